using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Sandbox.Git;
using Sandbox.Runner;

namespace Sandbox.Unit.Tests.Runner;

/// <summary>The runner protocol is one description (Runner/protocol.md) that both halves follow: the engine's request
/// records and the runner's op_ methods are exactly the requests it lists, with exactly its fields.</summary>
public sealed partial class RunnerProtocolTests
{
    /// <summary>op → fields, from the description's request table.</summary>
    private static Dictionary<string, SortedSet<string>> Described()
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Runner", "protocol.md"));
        var table = text[text.IndexOf("## Requests", StringComparison.Ordinal)..text.IndexOf("## Messages", StringComparison.Ordinal)];
        var ops = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (Match row in TableRow().Matches(table))
        {
            ops.Add(row.Groups["op"].Value, new SortedSet<string>(
                row.Groups["fields"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal));
        }
        return ops;
    }

    /// <summary>op → JSON fields, from the engine's records as its JSON context writes them.</summary>
    private static Dictionary<string, SortedSet<string>> EngineRecords() =>
        typeof(RunnerRequest).GetCustomAttributes<JsonDerivedTypeAttribute>().ToDictionary(
            a => (string)a.TypeDiscriminator!,
            a => new SortedSet<string>(RunnerProtocolJson.Default.GetTypeInfo(a.DerivedType)!.Properties.Select(p => p.Name).Where(n => n != "id"),
                StringComparer.Ordinal),
            StringComparer.Ordinal);

    [Fact]
    public void The_description_lists_every_request_the_engine_has_with_its_fields()
    {
        var described = Described();
        var engine = EngineRecords();
        Assert.True(described.Count >= 20, $"the request table was not read ({described.Count} rows)");
        Assert.Equal(described.Keys.Order(StringComparer.Ordinal), engine.Keys.Order(StringComparer.Ordinal));
        foreach (var (op, fields) in described)
        {
            Assert.True(fields.SetEquals(engine[op]), $"{op}: described {string.Join(", ", fields)}; the engine sends {string.Join(", ", engine[op])}");
        }
    }

    [Fact]
    public void The_runner_handles_exactly_the_described_requests()
    {
        var handled = OpMethod().Matches(EmbeddedScript.Runner.Value).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Described().Keys.Order(StringComparer.Ordinal), handled);
    }

    [Fact]
    public void The_runner_is_its_parts_joined_in_order_with_one_entry_point()
    {
        var text = EmbeddedScript.Runner.Value;
        Assert.Equal(EmbeddedScript.RunnerParts.Count, EmbeddedScript.RunnerParts.Distinct().Count());
        Assert.StartsWith("# Sandbox runner", text, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(text, "^if __name__ == \"__main__\":", RegexOptions.Multiline));
        Assert.True(text.IndexOf("class Runner(", StringComparison.Ordinal) > text.IndexOf("class Terminals:", StringComparison.Ordinal));
        Assert.True(text.Length < 128 * 1024, "the runner travels as one argument of python3 -c, which Linux caps at 128 KiB");
    }

    [Fact]
    public void Requests_are_one_line_with_op_first_snake_case_fields_and_no_nulls()
    {
        var line = JsonSerializer.Serialize(JsonDocument.Parse(RunnerProtocolJson.Serialize(
            new ExecRequest { Id = "7", Language = "argv", Argv = ["claude", "-p"], Env = new Dictionary<string, string> { ["API_KEY_NAME"] = "x" }, MaxOutput = 10 })));
        Assert.Equal("""{"op":"exec","language":"argv","argv":["claude","-p"],"env":{"API_KEY_NAME":"x"},"max_output":10,"id":"7"}""", line);
        Assert.Equal("""{"op":"proc_output","proc_id":"p1","stdout_from":3,"stderr_from":0,"max":5}""",
            System.Text.Encoding.UTF8.GetString(RunnerProtocolJson.Serialize(new ProcOutputRequest("p1", 3, 0, 5))));
        Assert.Equal("""{"op":"env","set":{}}""", System.Text.Encoding.UTF8.GetString(RunnerProtocolJson.Serialize(new EnvRequest(new Dictionary<string, string>(), null))));
    }

    [Fact]
    public void The_git_helper_gets_its_request_with_the_proxy_the_backend_adds()
    {
        GitHelperRequest push = new GitPushRequest("https://git.example/r.git", "abc", "sandbox/x", Force: false);
        var line = System.Text.Encoding.UTF8.GetString((push with { Proxy = "http://proxy:3128", Ca = "PEM" }).Serialize());
        Assert.Equal("""{"op":"push","url":"https://git.example/r.git","commit":"abc","branch":"sandbox/x","force":false,"proxy":"http://proxy:3128","ca":"PEM"}""", line);
        var clone = System.Text.Encoding.UTF8.GetString(new GitCloneRequest("https://git.example/r.git", null, 1, false, "A", "a@x").Serialize());
        Assert.DoesNotContain("\"ref\"", clone, StringComparison.Ordinal);
        Assert.StartsWith("""{"op":"clone",""", clone, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^\| `(?<op>[a-z_]+)` \| (?<fields>[a-z_, ]*?) *\|", RegexOptions.Multiline)]
    private static partial Regex TableRow();

    [GeneratedRegex(@"^    def op_([a-z_]+)\(self, rid, req\):", RegexOptions.Multiline)]
    private static partial Regex OpMethod();
}
