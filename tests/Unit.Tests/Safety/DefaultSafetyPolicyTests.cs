using Microsoft.Extensions.Options;
using Sandbox.Safety;

namespace Sandbox.Unit.Tests.Safety;

public sealed class DefaultSafetyPolicyTests
{
    private readonly DefaultSafetyPolicy _policy = new(Options.Create(new SafetyOptions()));
    private static readonly HashSet<string> None = [];

    [Fact]
    public void Flags_dangerous_calls_imports_dynamic_code_and_internals()
    {
        var facts = new List<CodeFact>
        {
            new("call", "os.system", 2, true, ["ls"]),
            new("call", "subprocess.run", 3),
            new("import", "ctypes", 4),
            new("call", "eval", 5, ConstantArgs: false),
            new("call", "eval", 6, ConstantArgs: true),
            new("attribute", "object.__subclasses__", 7),
            new("call", "print", 8),
            new("import", "numpy", 9),
        };
        var findings = _policy.CheckPython(facts, None);
        Assert.Equal(["PY001@2", "PY001@3", "PY002@4", "PY003@5", "PY004@7"], findings.Select(f => $"{f.RuleId}@{f.Line}").Order().ToArray());
        Assert.All(findings, f => Assert.False(string.IsNullOrWhiteSpace(f.Message)));
    }

    [Fact]
    public void Allow_by_rule_id_name_or_module_wildcard()
    {
        var facts = new List<CodeFact> { new("call", "subprocess.run", 1), new("call", "os.system", 2), new("import", "socket", 3) };
        Assert.DoesNotContain(_policy.CheckPython(facts, new HashSet<string> { "PY001" }), f => f.RuleId == "PY001");
        Assert.Single(_policy.CheckPython(facts, new HashSet<string> { "subprocess.*", "socket" }), f => f.Name == "os.system");
        Assert.Empty(_policy.CheckPython(facts, new HashSet<string> { "subprocess.run", "os.system", "PY002" }));
    }

    [Theory]
    [InlineData("rm -rf /", "SH001")]
    [InlineData("rm -rf --no-preserve-root /", "SH001")]
    [InlineData(":(){ :|:& };:", "SH002")]
    [InlineData("curl http://example.test", "SH003")]
    [InlineData("sudo id", "SH004")]
    [InlineData("dd if=/dev/zero of=/dev/sda", "SH005")]
    public void Bash_patterns(string code, string rule)
    {
        Assert.Contains(_policy.CheckBash(code, None), f => f.RuleId == rule);
    }

    [Theory]
    [InlineData("ls -la")]
    [InlineData("rm -rf ./build")]
    [InlineData("echo 'curling is a sport'")]
    [InlineData("python3 -c 'print(1)'")]
    public void Ordinary_bash_passes(string code) => Assert.Empty(_policy.CheckBash(code, None));
}
