using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Runner;

namespace Sandbox.Unit.Tests.Runner;

/// <summary>The engine's end of the runner protocol, against a scripted runner (pure protocol logic: the real runner is
/// exercised by every engine test).</summary>
public sealed class RunnerConnectionTests
{
    private static async Task<(RunnerConnection Connection, InMemoryRunnerStream Runner)> ConnectAsync()
    {
        var runner = new InMemoryRunnerStream();
        var connection = new RunnerConnection(runner, "test-session", NullLogger.Instance);
        runner.Say(new { type = "hello", version = 1 });
        await connection.WaitHelloAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return (connection, runner);
    }

    [Fact]
    public async Task Answers_are_matched_to_requests_by_id_and_noise_is_dropped()
    {
        var (connection, runner) = await ConnectAsync();
        await using var _ = connection;
        var first = connection.AskAsync(new PingRequest(), TimeSpan.FromSeconds(10), "ping", CancellationToken.None);
        var second = connection.AskAsync(new ListRequest(""), TimeSpan.FromSeconds(10), "list", CancellationToken.None);
        var a = await runner.NextRequestAsync();
        var b = await runner.NextRequestAsync();
        Assert.NotEqual(a.GetProperty("id").GetString(), b.GetProperty("id").GetString());

        runner.Say("this is not JSON");
        runner.Say("[1, 2, 3]");
        runner.Say(new { type = "pong", id = "no-such-request" });
        runner.Say(JsonSerializer.Serialize(new { type = "pong", id = a.GetProperty("id").GetString() }), stderr: true); // stderr is not protocol
        runner.Say(new { type = "entries", id = b.GetProperty("id").GetString() });
        runner.Say(new { type = "pong", id = a.GetProperty("id").GetString() });

        Assert.Equal("pong", (await first.WaitAsync(TimeSpan.FromSeconds(10))).Type);
        Assert.Equal("entries", (await second.WaitAsync(TimeSpan.FromSeconds(10))).Type);
        Assert.Null(connection.ClosedReason);
    }

    [Fact]
    public async Task A_runner_that_does_not_answer_is_a_timeout_naming_the_request()
    {
        var (connection, _) = await ConnectAsync();
        await using var __ = connection;
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            connection.AskAsync(new SnapshotRequest(), TimeSpan.FromMilliseconds(200), "workspace snapshot", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Timeout, e.Code);
        Assert.Contains("workspace snapshot", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_runner_ends_every_waiter_and_every_later_call_hears_session_lost()
    {
        var (connection, runner) = await ConnectAsync();
        await using var _ = connection;
        var waiting = connection.AskAsync(new PingRequest(), TimeSpan.FromSeconds(30), "ping", CancellationToken.None);
        await runner.NextRequestAsync();
        runner.End();
        Assert.Equal(SandboxErrorCodes.SessionLost, (await Assert.ThrowsAsync<SandboxException>(() => waiting)).Code);
        await connection.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(connection.ClosedReason);
        var later = await Assert.ThrowsAsync<SandboxException>(() => connection.SendAsync(new PingRequest(), CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, later.Code);
    }

    [Fact]
    public async Task A_command_past_its_deadline_is_asked_to_stop_and_its_end_says_the_deadline_did_it()
    {
        var (connection, runner) = await ConnectAsync();
        await using var _ = connection;
        var seen = new List<string>();
        var run = RunnerCommand.RunAsync(connection, connection.NewId(), new ExecRequest { Language = "python", Code = "while True: pass" },
            TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeProvider.System, m =>
            {
                seen.Add(m.Type);
                return ValueTask.FromResult(m.Type == "done");
            }, CancellationToken.None);
        var exec = await runner.NextRequestAsync();
        var id = exec.GetProperty("id").GetString();
        runner.Say(new { type = "out", id, stream = "stdout", data = "working\n" });
        var cancel = await runner.NextRequestAsync();
        Assert.Equal("cancel", cancel.GetProperty("op").GetString());
        Assert.Equal(id, cancel.GetProperty("id").GetString());
        runner.Say(new { type = "done", id, timed_out = true });
        var end = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new RunnerCommandEnd(Hung: false, StopSent: true, DeadlineHit: true), end);
        Assert.Equal(["out", "done"], seen);
    }

    [Fact]
    public async Task A_runner_that_ignores_the_stop_is_reported_hung_after_the_grace()
    {
        var (connection, runner) = await ConnectAsync();
        await using var _ = connection;
        using var caller = new CancellationTokenSource();
        var run = RunnerCommand.RunAsync(connection, connection.NewId(), new ExecRequest { Language = "python", Code = "x" },
            TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(200), TimeProvider.System, _ => ValueTask.FromResult(false), caller.Token);
        await runner.NextRequestAsync();
        await caller.CancelAsync();
        Assert.Equal("cancel", (await runner.NextRequestAsync()).GetProperty("op").GetString());
        var end = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new RunnerCommandEnd(Hung: true, StopSent: true, DeadlineHit: false), end);
    }
}
