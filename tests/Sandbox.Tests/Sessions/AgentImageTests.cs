using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Sessions;

/// <summary>The agent image is a session image like any other: hardened, non-root, with the agent CLIs installed.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentImageTests(EngineFixture fixture)
{
    [Fact]
    public async Task Agent_sessions_run_code_and_have_the_claude_code_cli()
    {
        var engine = fixture.CreateEngine(o => o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off);
        var s = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        Assert.Equal("agent", s.Image);
        var r = await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "id -u; claude --version; node --version; git --version", Language = "bash", Timeout = TimeSpan.FromSeconds(60),
        }, CancellationToken.None);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("1000", lines[0]);
        Assert.Contains("Claude Code", lines[1]);
        Assert.StartsWith("v", lines[2]);
        Assert.StartsWith("git version", lines[3]);
        Assert.Equal("ok\n", (await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('ok')" }, CancellationToken.None)).Stdout);

        var packages = await engine.Packages.GetAsync("agent", CancellationToken.None);
        Assert.Contains(packages.Packages, p => p is { Manager: "tool", Name: "claude" } && p.Version.Contains("Claude Code", StringComparison.Ordinal));
        Assert.Contains(packages.Packages, p => p is { Manager: "tool", Name: "node" });
        Assert.Contains(packages.Packages, p => p is { Manager: "python", Name: "numpy" });
    }
}
