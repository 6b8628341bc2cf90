using System.Diagnostics;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Execution;

[Collection(EngineCollection.Name)]
public sealed class ExecutionServiceTests(EngineFixture fixture)
{
    private readonly SandboxEngine _engine = fixture.CreateEngine(o => o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off);

    private Task<ExecutionResult> Run(string id, string code, string language = "python", bool fresh = false, double timeoutSeconds = 30) =>
        _engine.Executions.ExecuteAsync(id, Owners.Alice, new ExecutionRequest
        {
            Code = code, Language = language, Fresh = fresh, Timeout = TimeSpan.FromSeconds(timeoutSeconds),
        }, CancellationToken.None);

    [Fact]
    public async Task The_safety_check_holds_for_code_run_again_whose_facts_the_session_remembers()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = Sandbox.Isolation.IsolationTier.Container }, Owners.Alice, CancellationToken.None);
        const string code = "import subprocess\nprint(subprocess.run(['echo', 'ran'], capture_output=True, text=True).stdout, end='')";
        for (var i = 0; i < 3; i++)
        {
            var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = code }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.UnsafeCode, refused.Code);
        }
        // The same code with its rule allowed runs; without, it is refused again: the policy is applied every time.
        var allowed = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = code, Allow = ["PY001"] }, CancellationToken.None);
        Assert.Equal("ran\n", allowed.Stdout);
        var again = await Assert.ThrowsAsync<SandboxException>(() => engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = code }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.UnsafeCode, again.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Python_state_persists_across_calls_and_fresh_does_not_see_it()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var first = await Run(s.Id, "x = 41");
        Assert.Equal(0, first.ExitCode);
        var second = await Run(s.Id, "print(x + 1)");
        Assert.Equal("42\n", second.Stdout);
        Assert.False(second.StateLost);
        var fresh = await Run(s.Id, "print(x)", fresh: true);
        Assert.Equal(1, fresh.ExitCode);
        Assert.Contains("NameError: name 'x' is not defined", fresh.Stderr);
        var bash = await Run(s.Id, "echo hi; id -u; pwd; exit 3", "bash");
        Assert.Equal("hi\n1000\n/workspace\n", bash.Stdout);
        Assert.Equal(3, bash.ExitCode);
    }

    [Fact]
    public async Task Traceback_matches_what_python_prints()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        const string code = "def f(n):\n    return 10 / n\n\nf(0)\n";
        var ours = await Run(s.Id, code);
        var python = await Run(s.Id, code, fresh: true); // a plain `python3 -c` in the same container
        Assert.Equal(1, ours.ExitCode);
        Assert.Equal(python.Stderr, ours.Stderr);
        Assert.Equal("ZeroDivisionError", ours.Error?.Type);
        Assert.Equal("division by zero", ours.Error?.Message);
        Assert.Equal(python.Stderr, ours.Error?.Traceback);
        var syntax = await Run(s.Id, "def broken(:\n  pass");
        var syntaxPython = await Run(s.Id, "def broken(:\n  pass", fresh: true);
        Assert.Equal(syntaxPython.Stderr, syntax.Stderr);
        Assert.Equal("SyntaxError", syntax.Error?.Type);
    }

    [Fact]
    public async Task Matplotlib_figure_comes_back_as_png()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var r = await Run(s.Id, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()");
        Assert.Equal(0, r.ExitCode);
        var image = Assert.Single(r.Images);
        var bytes = Convert.FromBase64String(image.Base64);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.DoesNotContain("non-interactive", r.Stderr);
        // A figure left open without show() is returned too.
        var second = await Run(s.Id, "fig = plt.figure(); plt.bar([1], [2])");
        Assert.Single(second.Images);
    }

    [Fact]
    public async Task Timeout_stops_the_code_and_the_session_stays_usable()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await Run(s.Id, "kept = 'yes'");
        var sw = Stopwatch.StartNew();
        var r = await Run(s.Id, "while True: pass", timeoutSeconds: 2);
        sw.Stop();
        Assert.True(r.TimedOut);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
        Assert.False(r.StateLost); // KeyboardInterrupt was enough: variables survive
        Assert.Equal("yes\n", (await Run(s.Id, "print(kept)")).Stdout);

        // Code that swallows the interrupt is killed; the result says its state is gone.
        sw.Restart();
        var stubborn = await Run(s.Id, "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass", timeoutSeconds: 2);
        sw.Stop();
        Assert.True(stubborn.TimedOut);
        Assert.True(stubborn.StateLost);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        var after = await Run(s.Id, "print('alive')");
        Assert.Equal("alive\n", after.Stdout);

        var bash = await Run(s.Id, "sleep 30 & sleep 30; echo never", "bash", timeoutSeconds: 1);
        Assert.True(bash.TimedOut);
        Assert.Equal("", bash.Stdout);
    }

    [Fact]
    public async Task Streaming_yields_output_before_the_end()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var sw = Stopwatch.StartNew();
        var firstChunkAt = TimeSpan.Zero;
        var chunks = new List<string>();
        ExecutionResult? result = null;
        await foreach (var e in _engine.Executions.ExecuteStreamingAsync(s.Id, Owners.Alice,
                           new ExecutionRequest { Code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.5)" }, CancellationToken.None))
        {
            if (e is OutputEvent o)
            {
                chunks.Add(o.Text);
            }
            if (e is OutputEvent && firstChunkAt == TimeSpan.Zero)
            {
                firstChunkAt = sw.Elapsed;
            }
            if (e is CompletedEvent c)
            {
                result = c.Result;
            }
        }
        Assert.NotNull(result);
        Assert.Equal("tick 0\ntick 1\ntick 2\n", result.Stdout);
        Assert.Equal(result.Stdout, string.Concat(chunks)); // in order, nothing lost or repeated
        Assert.True(chunks.Count >= 3, $"output arrived in {chunks.Count} chunk(s), not as it was produced");
        Assert.True(firstChunkAt < TimeSpan.FromMilliseconds(result.DurationMs) - TimeSpan.FromMilliseconds(500),
            $"first chunk at {firstChunkAt}, total {result.DurationMs} ms");
    }

    [Fact]
    public async Task Cancelling_stops_the_code_and_keeps_the_session()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _engine.Executions.ExecuteAsync(s.Id, Owners.Alice,
            new ExecutionRequest { Code = "import time\ntime.sleep(60)" }, cts.Token));
        Assert.Equal("ok\n", (await Run(s.Id, "print('ok')")).Stdout);
    }

    [Fact]
    public async Task Concurrent_call_on_one_session_is_rejected_as_busy()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var slow = Run(s.Id, "import time\ntime.sleep(2)\nprint('done')");
        await Task.Delay(300);
        var e = await Assert.ThrowsAsync<SandboxException>(() => Run(s.Id, "print(1)"));
        Assert.Equal(SandboxErrorCodes.SessionBusy, e.Code);
        Assert.Equal("done\n", (await slow).Stdout);
    }

    [Fact]
    public async Task Output_is_capped_and_marked_truncated()
    {
        var engine = fixture.CreateEngine(o => { o.Execution.MaxOutputChars = 10_000; o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off; });
        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var r = await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('x' * 50_000_000, end='')" }, CancellationToken.None);
        Assert.True(r.Truncated);
        Assert.Equal(10_000, r.Stdout.Length);
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task Sessions_of_other_owners_are_invisible()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Executions.ExecuteAsync(s.Id, Owners.Bob, new ExecutionRequest { Code = "1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionNotFound, e.Code);
        Assert.DoesNotContain(_engine.Sessions.List(Owners.Bob), x => x.Id == s.Id);
        Assert.Contains(_engine.Sessions.List(Owners.Alice), x => x.Id == s.Id);
    }

    [Fact]
    public async Task Bad_requests_get_stable_codes()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        Assert.Equal(SandboxErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<SandboxException>(() => Run(s.Id, "1", "cobol"))).Code);
        Assert.Equal(SandboxErrorCodes.LimitExceeded, (await Assert.ThrowsAsync<SandboxException>(() => Run(s.Id, "1", timeoutSeconds: 100_000))).Code);
        Assert.Equal(SandboxErrorCodes.SessionNotFound, (await Assert.ThrowsAsync<SandboxException>(() => Run("nope", "1"))).Code);
        var limit = await Assert.ThrowsAsync<SandboxException>(() => _engine.Sessions.CreateAsync(
            new SessionSpec { Limits = new LimitsRequest { MemoryMb = 1_000_000 } }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, limit.Code);
        Assert.Contains("memory_mb", limit.Message);
        Assert.Equal(SandboxErrorCodes.ImageNotFound, (await Assert.ThrowsAsync<SandboxException>(() => _engine.Sessions.CreateAsync(
            new SessionSpec { Image = "nope" }, Owners.Alice, CancellationToken.None))).Code);
    }

    [Fact]
    public async Task Node_runs_where_the_image_has_it_and_is_a_clear_error_where_it_does_not()
    {
        var agent = await _engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var r = await _engine.Executions.ExecuteAsync(agent.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "node", Code = "console.log([1, 2, 3].map(x => x * 2).join(','), process.getuid())",
        }, CancellationToken.None);
        Assert.Equal("2,4,6 1000\n", r.Stdout);
        Assert.Equal(0, r.ExitCode);
        var python = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Executions.ExecuteAsync(python.Id, Owners.Alice,
            new ExecutionRequest { Language = "node", Code = "1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, e.Code);
        Assert.Contains("image 'agent'", e.Message);
        // The session is still usable after the refused call.
        Assert.Equal("ok\n", (await _engine.Executions.ExecuteAsync(python.Id, Owners.Alice, new ExecutionRequest { Code = "print('ok')" }, CancellationToken.None)).Stdout);
        await _engine.Sessions.CloseAsync(agent.Id, Owners.Alice, CancellationToken.None);
        await _engine.Sessions.CloseAsync(python.Id, Owners.Alice, CancellationToken.None);
    }
}
