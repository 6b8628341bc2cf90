using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Setup;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Setup;

/// <summary>Setup commands (the image's, then the caller's) and read-only context directories of new sessions.</summary>
[Collection(EngineCollection.Name)]
public sealed class SetupTests(EngineFixture fixture)
{
    private static async Task<ExecutionResult> BashAsync(SandboxEngine engine, string sessionId, string code) =>
        await engine.Executions.ExecuteAsync(sessionId, Owners.Alice, new ExecutionRequest { Language = "bash", Code = code }, CancellationToken.None);

    [Fact]
    public async Task Setup_commands_run_in_order_before_the_session_is_ready_and_a_failure_fails_the_create_with_its_output()
    {
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 1;
            o.Setup.Images["python"] = ["echo from-image > order.txt"];
        });
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Setup = ["echo one >> order.txt", "echo two >> order.txt && python3 -c 'print(42)' > answer.txt"] },
            Owners.Alice, CancellationToken.None);
        Assert.Equal("from-image\none\ntwo\n42\n", (await BashAsync(engine, session.Id, "cat order.txt answer.txt")).Stdout);
        var history = await engine.Sessions.GetHistoryAsync(session.Id, Owners.Alice, 100, CancellationToken.None);
        Assert.Contains(history, h => h.Kind == "created" && (h.Output ?? "").Contains("3 setup commands", StringComparison.Ordinal));

        var before = engine.Sessions.ListAll().Count;
        var failed = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec
        {
            Setup = ["echo fine", "echo partial; echo 'no such tool' >&2; exit 4", "echo never > never.txt"],
        }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SetupFailed, failed.Code);
        Assert.Contains("setup command 3 of 4", failed.Message, StringComparison.Ordinal);
        Assert.Contains("exit status 4", failed.Message, StringComparison.Ordinal);
        Assert.Contains("no such tool", failed.Message, StringComparison.Ordinal);
        var details = Assert.IsType<SetupFailure>(failed.Details);
        Assert.Equal((2, 4, "partial\n", "no such tool\n"), (details.Index, details.ExitCode ?? -1, details.Stdout, details.Stderr));
        Assert.Equal(before, engine.Sessions.ListAll().Count);

        var bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Setup = [" "] }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Context_directories_are_mounted_read_only_by_name_and_only_those_the_operator_offers()
    {
        var dir = Directory.CreateTempSubdirectory("sandbox-context-test-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        await File.WriteAllTextAsync(Path.Combine(dir, "guide.md"), "read me, do not change me\n");
        File.SetUnixFileMode(Path.Combine(dir, "guide.md"), (UnixFileMode)Convert.ToInt32("666", 8));
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 1;
            o.Context.Directories["docs"] = dir;
        });
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Context = ["docs"] }, Owners.Alice, CancellationToken.None);
        Assert.Equal(["docs"], session.Context);
        var read = await BashAsync(engine, session.Id, "cat /context/docs/guide.md; echo changed > /context/docs/guide.md 2>/dev/null && echo WROTE; touch /context/docs/new 2>/dev/null && echo CREATED; echo end");
        Assert.Equal("read me, do not change me\nend\n", read.Stdout);
        Assert.Equal("read me, do not change me\n", await File.ReadAllTextAsync(Path.Combine(dir, "guide.md")));
        Assert.False(File.Exists(Path.Combine(dir, "new")));

        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Context = ["etc"] }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, refused.Code);
        Assert.Contains("docs", refused.Message, StringComparison.Ordinal);
        refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Context = ["../etc"] }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, refused.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        Directory.Delete(dir, true);
    }
}
