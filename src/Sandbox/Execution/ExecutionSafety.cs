using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Safety;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Execution;

/// <summary>The static safety check before code runs: Python is parsed by Python itself in the sandbox's runner process
/// (not the user's interpreter), bash is checked on the host, and the policy decides; in enforce mode findings refuse the
/// code with <c>unsafe_code</c>.</summary>
public sealed class ExecutionSafety(ISafetyPolicy policy, IOptions<SandboxOptions> options)
{
    private readonly SandboxOptions _options = options.Value;

    internal async Task<IReadOnlyList<SafetyFinding>> CheckAsync(Session session, ExecutionRequest request, CancellationToken ct)
    {
        if (_options.Safety.Mode == SafetyMode.Off)
        {
            return [];
        }
        IReadOnlyList<SafetyFinding> findings;
        if (request.Language == "python")
        {
            var facts = await session.Live.AskAsync(new() { ["op"] = "analyze", ["code"] = request.Code }, TimeSpan.FromSeconds(10), "safety check", ct).ConfigureAwait(false);
            // A syntax error is reported by Python itself when the code runs, with Python's exact message.
            findings = policy.CheckPython(ParseFacts(facts.Body), request.Allow.ToHashSet(StringComparer.Ordinal));
        }
        else if (request.Language == "bash")
        {
            findings = policy.CheckBash(request.Code, request.Allow.ToHashSet(StringComparer.Ordinal));
        }
        else
        {
            findings = []; // no static policy for JavaScript: the container alone is the boundary
        }
        if (findings.Count > 0 && _options.Safety.Mode == SafetyMode.Enforce)
        {
            var lines = string.Join("; ", findings.Take(10).Select(f => $"line {f.Line}: [{f.RuleId}] {f.Message}"));
            throw new SandboxException(SandboxErrorCodes.UnsafeCode,
                $"The code was not run: the safety check found {findings.Count} problem(s): {lines}. Rewrite the code, or pass the rule ids or names in 'allow' if the code is intended.")
            {
                Details = findings,
            };
        }
        return findings;
    }

    private static List<CodeFact> ParseFacts(JsonElement body)
    {
        var list = new List<CodeFact>();
        if (!body.TryGetProperty("facts", out var facts) || facts.ValueKind != JsonValueKind.Array)
        {
            return list;
        }
        foreach (var f in facts.EnumerateArray())
        {
            if (f.ValueKind != JsonValueKind.Object || Str(f, "kind") is not { } kind || Str(f, "name") is not { } name)
            {
                continue;
            }
            var constant = !f.TryGetProperty("constant_args", out var c) || c.ValueKind != JsonValueKind.False;
            list.Add(new CodeFact(kind, name, Int(f, "line") ?? 0, constant));
        }
        return list;
    }
}
