namespace Sandbox.Safety;

/// <summary>One result of the static safety check.</summary>
/// <param name="RuleId">Stable rule id, e.g. <c>PY001</c>; the value to pass in an execution's <c>allow</c> list.</param>
/// <param name="Line">1-based line of the code, 0 when unknown.</param>
/// <param name="Message">What was found and why it is refused.</param>
/// <param name="Name">The call, import or pattern that matched (also accepted in <c>allow</c>).</param>
public sealed record SafetyFinding(string RuleId, int Line, string Message, string Name);

/// <summary>A fact about Python code, extracted by Python's own <c>ast</c> parser inside the sandbox.</summary>
/// <param name="Kind"><c>import</c>, <c>call</c>, <c>attribute</c> or <c>name</c>.</param>
/// <param name="Name">Qualified name with import aliases resolved.</param>
/// <param name="Line">1-based line.</param>
/// <param name="ConstantArgs">For calls: whether every positional argument is a literal.</param>
/// <param name="Args">For calls: the literal arguments' text (shortened).</param>
public sealed record CodeFact(string Kind, string Name, int Line, bool ConstantArgs = true, IReadOnlyList<string>? Args = null);

/// <summary>Checks code before it runs.</summary>
public interface ISafetyPolicy
{
    /// <summary>Findings for Python code from the facts Python's parser extracted.</summary>
    IReadOnlyList<SafetyFinding> CheckPython(IReadOnlyList<CodeFact> facts, IReadOnlyCollection<string> allow);

    /// <summary>Findings for a bash script (pattern based, a smaller check).</summary>
    IReadOnlyList<SafetyFinding> CheckBash(string code, IReadOnlyCollection<string> allow);
}
