using System.Text;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Execution;

/// <summary>Executions as handles (a call that stops waiting, reading on with a cursor, cancelling) and output kept whole
/// behind a budget, against the real engine.</summary>
[Collection(EngineCollection.Name)]
public sealed class ExecutionHandleTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_call_that_stops_waiting_gets_a_handle_and_reads_the_rest_with_a_cursor()
    {
        var engine = fixture.CreateEngine();
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var first = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\nresult = 42",
            WaitFor = TimeSpan.FromSeconds(1),
        }, CancellationToken.None);
        Assert.Equal(ExecutionStatus.Running, first.Status);
        Assert.StartsWith("tick 0\n", first.Stdout, StringComparison.Ordinal);
        var seen = new StringBuilder(first.Stdout);
        var cursor = first.Cursor;
        ExecutionResult next;
        do
        {
            next = await engine.Executions.GetAsync(session.Id, Owners.Alice, first.ExecutionId, cursor, TimeSpan.FromSeconds(5), null, CancellationToken.None);
            seen.Append(next.Stdout);
            cursor = next.Cursor;
        }
        while (next.Status == ExecutionStatus.Running);
        Assert.Equal(ExecutionStatus.Finished, next.Status);
        Assert.Null(next.OutputLog); // an answer that holds it all leaves no log in the workspace
        Assert.Equal(42, next.StdoutBytes);
        // Every line exactly once, in order, across the answers.
        Assert.Equal(string.Concat(Enumerable.Range(0, 6).Select(i => $"tick {i}\n")), seen.ToString());
        // The whole result is there from cursor 0, and the interpreter kept its state.
        var whole = await engine.Executions.GetAsync(session.Id, Owners.Alice, first.ExecutionId, 0, TimeSpan.Zero, null, CancellationToken.None);
        Assert.Equal(seen.ToString(), whole.Stdout);
        var state = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(result)" }, CancellationToken.None);
        Assert.Equal("42\n", state.Stdout);
        var listed = engine.Executions.List(session.Id, Owners.Alice);
        Assert.Equal([state.ExecutionId, first.ExecutionId], listed.Select(e => e.ExecutionId).ToArray());
        Assert.All(listed, e => Assert.Equal(ExecutionStatus.Finished, e.Status));
        var other = await Assert.ThrowsAsync<SandboxException>(() => engine.Executions.GetAsync(session.Id, Owners.Bob, first.ExecutionId, 0, TimeSpan.Zero, null, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionNotFound, other.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Cancelling_a_handed_over_execution_stops_it_and_keeps_the_session()
    {
        var engine = fixture.CreateEngine();
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "kept = 'yes'" }, CancellationToken.None);
        var running = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import time\nwhile True:\n    time.sleep(0.05)", WaitFor = TimeSpan.FromMilliseconds(500), Timeout = TimeSpan.FromMinutes(5),
        }, CancellationToken.None);
        Assert.Equal(ExecutionStatus.Running, running.Status);
        var busy = await Assert.ThrowsAsync<SandboxException>(() => engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionBusy, busy.Code);
        var cancelled = await engine.Executions.CancelAsync(session.Id, Owners.Alice, running.ExecutionId, CancellationToken.None);
        Assert.Equal(ExecutionStatus.Cancelled, cancelled.Status);
        var after = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(kept)" }, CancellationToken.None);
        Assert.Equal("yes\n", after.Stdout);
        // A handed-over bash execution that started a background job: cancelling it leaves no process behind.
        var job = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "sleep 4321 & sleep 4322", WaitFor = TimeSpan.FromMilliseconds(500), Timeout = TimeSpan.FromMinutes(5),
        }, CancellationToken.None);
        Assert.Equal(ExecutionStatus.Running, job.Status);
        await engine.Executions.CancelAsync(session.Id, Owners.Alice, job.ExecutionId, CancellationToken.None);
        var procs = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 432[1]' || true",
        }, CancellationToken.None);
        Assert.Equal("0\n", procs.Stdout);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Five_megabytes_of_output_come_back_within_the_budget_and_are_kept_whole_to_slice_and_search()
    {
        var engine = fixture.CreateEngine();
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        // 50,000 lines of 100 bytes: "0000000 xxx…x\n".
        var result = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import sys\nfor i in range(50000):\n    sys.stdout.write('%07d ' % i + 'x' * 91 + '\\n')",
            MaxOutputChars = 16_000, Timeout = TimeSpan.FromMinutes(2),
        }, CancellationToken.None);
        Assert.Equal(ExecutionStatus.Finished, result.Status);
        Assert.True(result.Stdout.Length < 17_000, $"{result.Stdout.Length} characters");
        Assert.True(result.Truncated);
        Assert.StartsWith("0000000 x", result.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("0049999 " + new string('x', 91) + "\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("stdout left out here (5000000 bytes in all", result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"read_output(execution_id=\"{result.ExecutionId}\"", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(5_000_000, result.StdoutBytes);
        Assert.Equal(".outputs/" + result.ExecutionId, result.OutputLog);

        static string Line(int i) => i.ToString("D7", System.Globalization.CultureInfo.InvariantCulture) + " " + new string('x', 91) + "\n";
        var expected = string.Concat(Enumerable.Range(0, 50_000).Select(Line));
        foreach (var (offset, length) in new[] { (0L, 100), (1_234_567L, 4321), (4_999_900L, 100), (4_999_990L, 50) })
        {
            var slice = await engine.Outputs.ReadAsync(session.Id, Owners.Alice, result.ExecutionId, "stdout", offset, length, CancellationToken.None);
            var end = (int)Math.Min(offset + length, expected.Length);
            Assert.Equal(expected[(int)offset..end], slice.Text);
            Assert.Equal(5_000_000, slice.TotalBytes);
        }
        var found = await engine.Outputs.GrepAsync(session.Id, Owners.Alice, result.ExecutionId, "stdout", "^003133[57] ", 10, CancellationToken.None);
        Assert.Equal([31336, 31338], found.Matches.Select(m => m.Line).ToArray());
        Assert.Equal(31335L * 100, found.Matches[0].Offset);
        Assert.False(found.More);
        // The kept output is not part of what agents see as their changes, and a bad pattern is a clear error.
        var bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Outputs.GrepAsync(session.Id, Owners.Alice, result.ExecutionId, "stdout", "([", 10, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }
}
