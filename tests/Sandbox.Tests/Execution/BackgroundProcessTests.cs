using Sandbox.Execution;
using Sandbox.Processes;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Execution;

/// <summary>Background processes beside the interpreter, against the real engine.</summary>
[Collection(EngineCollection.Name)]
public sealed class BackgroundProcessTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_web_server_keeps_serving_while_code_runs_and_ends_when_killed()
    {
        var engine = fixture.CreateEngine();
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await engine.Files.UploadAsync(session.Id, Owners.Alice, "site/index.html", new MemoryStream("hello from the background"u8.ToArray()), CancellationToken.None);
        var server = await engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest
        {
            Argv = ["python3", "-u", "-m", "http.server", "8000", "--bind", "127.0.0.1"], Cwd = "site",
        }, CancellationToken.None);
        Assert.True(server.Running);
        // While an execution runs (the session is busy with it), the server answers a second process of the session.
        var fetch = "import time, urllib.request\nfor _ in range(50):\n    try:\n        print(urllib.request.urlopen('http://127.0.0.1:8000/index.html', timeout=2).read().decode()); break\n    except OSError: time.sleep(0.2)";
        var result = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = fetch, Timeout = TimeSpan.FromSeconds(30) }, CancellationToken.None);
        var log = await engine.Processes.GetOutputAsync(session.Id, Owners.Alice, server.ProcessId, 0, 0, TimeSpan.Zero, 1 << 20, CancellationToken.None);
        Assert.True(result.Stdout == "hello from the background\n", $"{result.Stdout} {result.Stderr} | {log.Process} {log.Stdout} {log.Stderr}");
        // An execution that times out (its leftovers are killed) leaves the server alone.
        var timedOut = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "sleep 100 & sleep 100", Timeout = TimeSpan.FromSeconds(1),
        }, CancellationToken.None);
        Assert.True(timedOut.TimedOut);
        var again = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = fetch, Timeout = TimeSpan.FromSeconds(30) }, CancellationToken.None);
        var log2 = await engine.Processes.GetOutputAsync(session.Id, Owners.Alice, server.ProcessId, 0, 0, TimeSpan.Zero, 1 << 20, CancellationToken.None);
        Assert.True(again.Stdout == "hello from the background\n", $"{again.Stdout} {again.Stderr} | {log2.Process} {log2.Stdout} {log2.Stderr}");
        // Its log says it served the requests.
        var output = await engine.Processes.GetOutputAsync(session.Id, Owners.Alice, server.ProcessId, 0, 0, TimeSpan.FromSeconds(5), 1 << 20, CancellationToken.None);
        Assert.Contains("GET /index.html", output.Stderr, StringComparison.Ordinal);
        Assert.True(output.Process.Running);
        var listed = await engine.Processes.ListAsync(session.Id, Owners.Alice, CancellationToken.None);
        Assert.Contains(listed, p => p.ProcessId == server.ProcessId && p.Running);

        var killed = await engine.Processes.KillAsync(session.Id, Owners.Alice, server.ProcessId, CancellationToken.None);
        Assert.False(killed.Running);
        Assert.Equal(137, killed.ExitCode); // SIGKILL
        var left = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c '[h]ttp.server' || true",
        }, CancellationToken.None);
        Assert.Equal("0\n", left.Stdout);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Input_output_cursors_and_limits()
    {
        var engine = fixture.CreateEngine(o => o.Processes.MaxPerSession = 2);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var cat = await engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest { Command = "while read line; do echo \"got $line\"; done; echo bye" }, CancellationToken.None);
        await engine.Processes.SendInputAsync(session.Id, Owners.Alice, cat.ProcessId, "one\n", false, CancellationToken.None);
        var first = await engine.Processes.GetOutputAsync(session.Id, Owners.Alice, cat.ProcessId, 0, 0, TimeSpan.FromSeconds(10), 1 << 20, CancellationToken.None);
        Assert.Equal("got one\n", first.Stdout);
        await engine.Processes.SendInputAsync(session.Id, Owners.Alice, cat.ProcessId, "two\n", true, CancellationToken.None);
        var text = first.Stdout;
        var cursor = first.StdoutCursor;
        ProcessOutput next;
        do
        {
            next = await engine.Processes.GetOutputAsync(session.Id, Owners.Alice, cat.ProcessId, cursor, 0, TimeSpan.FromSeconds(10), 1 << 20, CancellationToken.None);
            text += next.Stdout;
            cursor = next.StdoutCursor;
        }
        while (next.Process.Running || next.Stdout.Length > 0);
        Assert.Equal("got one\ngot two\nbye\n", text);
        Assert.Equal(0, next.Process.ExitCode);
        // The whole output is in the log too.
        var file = await engine.Files.DownloadAsync(session.Id, Owners.Alice, next.Process.OutputLog + ".stdout", CancellationToken.None);
        Assert.Equal(text, System.Text.Encoding.UTF8.GetString(file.Content));

        var escape = await Assert.ThrowsAsync<SandboxException>(() => engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest { Command = "true", Cwd = "../etc" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidPath, escape.Code);
        var both = await Assert.ThrowsAsync<SandboxException>(() => engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest(), CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, both.Code);
        await engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest { Command = "sleep 300" }, CancellationToken.None);
        await engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest { Command = "sleep 300" }, CancellationToken.None);
        var third = await Assert.ThrowsAsync<SandboxException>(() => engine.Processes.StartAsync(session.Id, Owners.Alice, new ProcessRequest { Command = "sleep 300" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, third.Code);
        var missing = await Assert.ThrowsAsync<SandboxException>(() => engine.Processes.KillAsync(session.Id, Owners.Alice, "pnope", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.ProcessNotFound, missing.Code);
        // Closing the session ends them all (its container goes).
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }
}
