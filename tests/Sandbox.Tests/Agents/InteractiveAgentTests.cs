using Sandbox.Agents;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Terminals;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>Claude Code's own interface in a terminal the session holds, against a scripted model endpoint: typed to,
/// left to work unattended, found finished by the next client, watched read-only by a third.</summary>
[Collection(EngineCollection.Name)]
public sealed class InteractiveAgentTests(EngineFixture fixture)
{
    private const string ApiKey = "sk-ant-test-interactive-93c1";

    [Fact]
    public async Task A_typed_message_is_worked_on_unattended_and_the_next_client_sees_the_finished_screen()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey,
        [
            ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/talk.txt", content = "written while nobody watched\n" }),
            ScriptedTurn.Final("FINISHED-4471"),
        ]);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var info = await engine.InteractiveAgents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "" }, 100, 30, CancellationToken.None);
        Assert.Equal(ClaudeCodeAgent.AgentName, info.Kind);
        Assert.NotNull(info.EndsAt);
        Assert.Contains(engine.Terminals.List(session.Id, Owners.Alice), t => t.Id == info.Id && t.Kind == ClaudeCodeAgent.AgentName);

        // One agent per session: a second interactive agent and a headless run wait for this one.
        var again = await Assert.ThrowsAsync<SandboxException>(() => engine.InteractiveAgents.StartAsync(session.Id, Owners.Alice,
            new AgentRunRequest { Prompt = "" }, 80, 24, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionBusy, again.Code);
        var headless = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(session.Id, Owners.Alice,
            new AgentRunRequest { Prompt = "x" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionBusy, headless.Code);

        // The first client types a message and leaves at once.
        await using (var first = engine.Terminals.Attach(session.Id, Owners.Alice, info.Id, TerminalMode.Write))
        await using (var screen = new TerminalScreen(first))
        {
            Assert.True(first.IsWriter);
            // The interface is up (no onboarding, trust or key question in the way) once its permission line is drawn.
            await screen.WaitForDrawnAsync("bypasspermissions", 120);
            Assert.True(await first.WriteAsync("Write talk.txt please (TYPED-2291)", CancellationToken.None));
            await Task.Delay(500);
            Assert.True(await first.WriteAsync("\r", CancellationToken.None));
            await WaitUntilAsync(() => model.Requests.Any(r => r.Body.Contains("TYPED-2291", StringComparison.Ordinal)), 60);
        }

        // Nobody is attached: the agent does the work on its own.
        await WaitUntilAsync(() => Exists(engine, session.Id, "talk.txt"), 120);
        var file = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(open('talk.txt').read(), end='')" }, CancellationToken.None);
        Assert.Equal("written while nobody watched\n", file.Stdout);
        // The key went to the model endpoint from the proxy, never through the sandbox.
        Assert.All(model.Requests.Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)), r => Assert.Equal(ApiKey, r.Headers["x-api-key"]));

        // The next client gets the finished screen from the replay; a third watches read-only while it types.
        await using (var second = engine.Terminals.Attach(session.Id, Owners.Alice, info.Id, TerminalMode.Write))
        await using (var secondScreen = new TerminalScreen(second))
        await using (var third = engine.Terminals.Attach(session.Id, Owners.Alice, info.Id, TerminalMode.Write))
        await using (var thirdScreen = new TerminalScreen(third))
        {
            await secondScreen.WaitForDrawnAsync("FINISHED-4471", 60);
            Assert.True(second.IsWriter);
            Assert.False(third.IsWriter);
            await Assert.ThrowsAsync<SandboxException>(() => third.WriteAsync("typed by a watcher", CancellationToken.None));
            Assert.True(await second.WriteAsync("NEXT-MESSAGE-7", CancellationToken.None));
            await thirdScreen.WaitForDrawnAsync("NEXT-MESSAGE-7", 30);
        }
        Assert.Throws<SandboxException>(() => engine.Terminals.Attach(session.Id, Owners.Bob, info.Id, TerminalMode.Read));

        // Closing the terminal ends the agent and takes its model proxy and network with it.
        await engine.Terminals.CloseAsync(session.Id, Owners.Alice, info.Id, CancellationToken.None);
        var client = engine.DockerClient();
        await WaitUntilAsync(() => !client.Networks.ListNetworksAsync(new()).GetAwaiter().GetResult()
            .Any(n => n.Name == global::Sandbox.Docker.DockerAgentNetwork.AgentNetworkName(session.Id)), 60);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Codex_interface_takes_a_typed_task_and_finishes_it_unattended()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey,
        [
            ScriptedTurn.ToolUse("exec_command", new { cmd = "printf 'codex was here\\n' > codex.txt" }),
            ScriptedTurn.Final("CODEX-DONE-5512"),
        ]);
        var engine = rig.Engine;
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var info = await engine.InteractiveAgents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "", Agent = CodexAgent.AgentName }, 100, 30, CancellationToken.None);
        Assert.Equal(CodexAgent.AgentName, info.Kind);
        await using (var first = engine.Terminals.Attach(session.Id, Owners.Alice, info.Id, TerminalMode.Write))
        await using (var screen = new TerminalScreen(first))
        {
            await screen.WaitForDrawnAsync("AskCodex", 120);
            Assert.True(await first.WriteAsync("Write codex.txt (TYPED-CODEX-7)", CancellationToken.None));
            await Task.Delay(500);
            Assert.True(await first.WriteAsync("\r", CancellationToken.None));
            await WaitUntilAsync(() => rig.Model.Requests.Any(r => r.Body.Contains("TYPED-CODEX-7", StringComparison.Ordinal)), 60);
        }
        await WaitUntilAsync(() => Exists(engine, session.Id, "codex.txt"), 120);
        await using (var second = engine.Terminals.Attach(session.Id, Owners.Alice, info.Id, TerminalMode.Read))
        await using (var screen = new TerminalScreen(second))
        {
            await screen.WaitForDrawnAsync("CODEX-DONE-5512", 60);
        }
        Assert.All(rig.Model.Requests.Where(r => r.Path.StartsWith("/v1/responses", StringComparison.Ordinal)), r => Assert.Equal("Bearer " + ApiKey, r.Headers["authorization"]));
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    private static bool Exists(SandboxEngine engine, string sessionId, string path) =>
        engine.Files.ListAsync(sessionId, Owners.Alice, "", CancellationToken.None).GetAwaiter().GetResult().Any(e => e.Name == path);

    private static async Task WaitUntilAsync(Func<bool> condition, double seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(200);
        }
    }
}
