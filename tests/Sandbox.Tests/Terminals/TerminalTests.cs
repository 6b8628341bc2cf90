using System.Text;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Terminals;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Terminals;

/// <summary>A shell on a pseudo-terminal in a real session: typing, Ctrl-C, resizing, exit, and the session's own work
/// beside it; held by the session while clients attach, detach and watch.</summary>
[Collection(EngineCollection.Name)]
public sealed class TerminalTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_terminal_runs_a_shell_as_the_sandbox_user_with_typing_ctrl_c_resize_and_exit()
    {
        var (engine, session, opened, terminal) = await OpenAttachedAsync();
        await using (var screen = new TerminalScreen(terminal))
        {
            await terminal.WriteAsync("echo $((6*7)); id -u; pwd\r", CancellationToken.None);
            await screen.WaitForAsync("42\r\n1000\r\n/workspace");
            // Ctrl-C stops what runs in the foreground and the shell goes on.
            await terminal.WriteAsync("sleep 60\r", CancellationToken.None);
            await Task.Delay(300);
            var interrupted = DateTime.UtcNow;
            await terminal.WriteAsync("\u0003", CancellationToken.None);
            await terminal.WriteAsync("echo after-$((1+1))\r", CancellationToken.None);
            await screen.WaitForAsync("after-2");
            Assert.True(DateTime.UtcNow - interrupted < TimeSpan.FromSeconds(20));
            await terminal.ResizeAsync(100, 30, CancellationToken.None);
            await terminal.WriteAsync("stty size\r", CancellationToken.None);
            await screen.WaitForAsync("30 100");
            // The session's executions work beside it, and what the terminal wrote is in the workspace.
            await terminal.WriteAsync("echo typed > from-terminal.txt\r", CancellationToken.None);
            var file = await WaitForFileAsync(engine, session.Id, "from-terminal.txt");
            Assert.Equal("typed\n", file);
            await terminal.WriteAsync("exit 3\r", CancellationToken.None);
            await screen.Ended.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.Equal(3, terminal.ExitCode);
        await terminal.DisposeAsync();
        await WaitUntilAsync(() => engine.Terminals.List(session.Id, Owners.Alice).Count == 0);
        var limit = new List<TerminalInfo>();
        for (var i = 0; i < TerminalService.MaxPerSession; i++)
        {
            limit.Add(await engine.Terminals.OpenAsync(session.Id, Owners.Alice, 80, 24, CancellationToken.None));
        }
        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Terminals.OpenAsync(session.Id, Owners.Alice, 80, 24, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, refused.Code);
        foreach (var t in limit)
        {
            await engine.Terminals.CloseAsync(session.Id, Owners.Alice, t.Id, CancellationToken.None);
        }
        Assert.Empty(engine.Terminals.List(session.Id, Owners.Alice));
        var other = await Assert.ThrowsAsync<SandboxException>(() => engine.Terminals.OpenAsync(session.Id, Owners.Bob, 80, 24, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionNotFound, other.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task A_terminal_outlives_its_clients_replays_its_screen_on_attach_and_lets_one_client_type_while_others_watch()
    {
        var (engine, session, opened, first) = await OpenAttachedAsync();
        await using (var screen = new TerminalScreen(first))
        {
            Assert.True(first.IsWriter);
            // Work that goes on after the client leaves: it prints one line now and one after the detach.
            await first.WriteAsync("echo start-$((2*3)); sleep 2; echo finished-$((3*3))\r", CancellationToken.None);
            await screen.WaitForAsync("start-6");
            // Ctrl-P Ctrl-Q asks to detach: nothing of it is typed.
            Assert.False(await first.WriteAsync(TerminalAttachment.DetachKeys, CancellationToken.None));
        }
        await first.DisposeAsync();
        var listed = Assert.Single(engine.Terminals.List(session.Id, Owners.Alice));
        Assert.Equal((opened.Id, 0, false, true), (listed.Id, listed.Viewers, listed.HasWriter, listed.Running));

        // A later client gets the screen as it is, with what happened while nobody watched.
        await Task.Delay(2500);
        var second = engine.Terminals.Attach(session.Id, Owners.Alice, opened.Id, TerminalMode.Write);
        var third = engine.Terminals.Attach(session.Id, Owners.Alice, opened.Id, TerminalMode.Write);
        await using (var secondScreen = new TerminalScreen(second))
        await using (var thirdScreen = new TerminalScreen(third))
        {
            await secondScreen.WaitForAsync("finished-9");
            await thirdScreen.WaitForAsync("finished-9");
            Assert.Contains("start-6", secondScreen.Text, StringComparison.Ordinal);
            // One types, the other watches what it types and cannot type.
            Assert.True(second.IsWriter);
            Assert.False(third.IsWriter);
            Assert.Equal(SandboxErrorCodes.Forbidden, (await Assert.ThrowsAsync<SandboxException>(() => third.WriteAsync("echo no\r", CancellationToken.None))).Code);
            await second.WriteAsync("echo typed-$((4*4))\r", CancellationToken.None);
            await thirdScreen.WaitForAsync("typed-16");
            Assert.Equal((2, true), (engine.Terminals.List(session.Id, Owners.Alice)[0].Viewers, engine.Terminals.List(session.Id, Owners.Alice)[0].HasWriter));
            // When the writer leaves, the keyboard is free for the next writer to attach.
            await second.DisposeAsync();
            var fourth = engine.Terminals.Attach(session.Id, Owners.Alice, opened.Id, TerminalMode.Write);
            Assert.True(fourth.IsWriter);
            await fourth.DisposeAsync();
            var bobs = await Assert.ThrowsAsync<SandboxException>(() => Task.FromResult(engine.Terminals.Attach(session.Id, Owners.Bob, opened.Id, TerminalMode.Read)));
            Assert.Equal(SandboxErrorCodes.SessionNotFound, bobs.Code);
            // Closing it ends every client's output.
            await engine.Terminals.CloseAsync(session.Id, Owners.Alice, opened.Id, CancellationToken.None);
            await thirdScreen.Ended.WaitAsync(TimeSpan.FromSeconds(30));
        }
        await third.DisposeAsync();
        Assert.Empty(engine.Terminals.List(session.Id, Owners.Alice));
        Assert.Equal(SandboxErrorCodes.TerminalNotFound,
            Assert.Throws<SandboxException>(() => engine.Terminals.Attach(session.Id, Owners.Alice, opened.Id, TerminalMode.Read)).Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    /// <summary>A fresh session with one terminal, attached as its writer.</summary>
    private async Task<(SandboxEngine Engine, SessionInfo Session, TerminalInfo Terminal, TerminalAttachment Attached)> OpenAttachedAsync()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 1);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var opened = await engine.Terminals.OpenAsync(session.Id, Owners.Alice, 80, 24, CancellationToken.None);
        return (engine, session, opened, engine.Terminals.Attach(session.Id, Owners.Alice, opened.Id, TerminalMode.Write));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; !condition(); i++)
        {
            Assert.True(i < 300, "timed out waiting");
            await Task.Delay(100);
        }
    }

    private static async Task<string> WaitForFileAsync(SandboxEngine engine, string sessionId, string path)
    {
        for (var i = 0; ; i++)
        {
            var r = await engine.Executions.ExecuteAsync(sessionId, Owners.Alice, new ExecutionRequest { Language = "bash", Code = $"cat {path} 2>/dev/null" }, CancellationToken.None);
            if (r.Stdout.Length > 0 || i > 100)
            {
                return r.Stdout;
            }
            await Task.Delay(100);
        }
    }
}
