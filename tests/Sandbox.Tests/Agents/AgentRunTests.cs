using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>The real Claude Code CLI in a real agent session, against a scripted model endpoint on a network the test creates.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentRunTests(EngineFixture fixture)
{
    private const string ApiKey = "sk-ant-test-4f9c1e7a2b8d6035";

    private static readonly ScriptedTurn[] HelloScript =
    [
        ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/hello.py", content = "print('hello from the agent')\n" }),
        ScriptedTurn.ToolUse("Bash", new { command = "python3 hello.py", description = "Run hello.py" }),
        ScriptedTurn.Final("Done: hello.py prints a greeting."),
    ];

    private async Task<(SessionManager Engine, TestNetwork Network, ScriptedModelEndpoint Model)> SetUpAsync(IReadOnlyList<ScriptedTurn> script, bool hang = false)
    {
        var probe = fixture.CreateManager();
        var network = await TestNetwork.CreateAsync(probe.Backend.Client, "model");
        var model = new ScriptedModelEndpoint(network.Gateway, script, hang);
        var engine = fixture.CreateManager(o =>
        {
            o.WarmPoolSize = 0;
            o.Agents.ModelEndpoint = model.Url;
            o.Agents.EgressNetwork = network.Name;
            o.Agents.ApiKey = ApiKey;
        });
        return (engine, network, model);
    }

    [Fact]
    public async Task Claude_code_writes_and_runs_a_file_and_the_run_shows_it()
    {
        var (engine, network, model) = await SetUpAsync(HelloScript);
        await using var _ = network;
        await using var __ = model;
        var session = await engine.CreateSessionAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var steps = new List<AgentStep>();
        AgentRun? run = null;
        await foreach (var e in engine.RunAgentStreamingAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "Write hello.py that prints a greeting, then run it.", Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None))
        {
            if (e is AgentStepEvent s)
            {
                steps.Add(s.Step);
            }
            else if (e is AgentCompletedEvent c)
            {
                run = c.Run;
            }
        }
        Assert.NotNull(run);
        var all = JsonSerializer.Serialize(run);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\nstderr: {run.Stderr}\nrequests: {string.Join(", ", model.Requests.Select(r => r.Method + " " + r.Path))}\n{all[..Math.Min(all.Length, 4000)]}");
        Assert.Contains(steps, s => s.Kind == "tool_call" && s.Tool == "Write");
        Assert.Contains(steps, s => s.Kind == "tool_call" && s.Tool == "Bash");
        Assert.Contains(run.Changes, c => c.Path == "hello.py" && c.Change == "added");
        Assert.Contains("+print('hello from the agent')", run.Diff);
        Assert.Equal("Done: hello.py prints a greeting.", run.FinalMessage);
        var file = await engine.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(open('hello.py').read(), end='')" }, CancellationToken.None);
        Assert.Equal("print('hello from the agent')\n", file.Stdout);
        // The key reached the model endpoint (added by the proxy) and nowhere else.
        Assert.NotEmpty(model.Requests);
        Assert.All(model.Requests.Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)), r => Assert.Equal(ApiKey, r.Headers["x-api-key"]));
        Assert.DoesNotContain(ApiKey, all);
        var env = await engine.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "import os\nprint(os.environ)" }, CancellationToken.None);
        Assert.Contains("HOME", env.Stdout);
        Assert.DoesNotContain(ApiKey, env.Stdout);
        env = await engine.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; grep -rs sk-ant / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head; echo scanned",
            Timeout = TimeSpan.FromSeconds(60),
        }, CancellationToken.None);
        Assert.Contains("scanned", env.Stdout);
        Assert.DoesNotContain(ApiKey, env.Stdout);
        await engine.CloseSessionAsync(session.Id, Owners.Alice, CancellationToken.None);
    }
}
