using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Sessions;

/// <summary>Hostile code ends with a clear result, the session stays usable, and a session running beside it is unaffected.</summary>
[Collection(EngineCollection.Name)]
public sealed class AbuseTests(EngineFixture fixture)
{
    private readonly SandboxEngine _engine = fixture.CreateEngine(o => o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off);

    private async Task<ExecutionResult> WithCanary(IsolationTier tier, string code, string language = "python", double timeout = 5, LimitsRequest? limits = null)
    {
        var victim = await _engine.Sessions.CreateAsync(new SessionSpec { Limits = limits, Isolation = tier }, Owners.Alice, CancellationToken.None);
        var canary = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Bob, CancellationToken.None);
        await _engine.Executions.ExecuteAsync(canary.Id, Owners.Bob, new ExecutionRequest { Code = "state = 'kept'" }, CancellationToken.None);
        using var stop = new CancellationTokenSource();
        var canaryRuns = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var r = await _engine.Executions.ExecuteAsync(canary.Id, Owners.Bob, new ExecutionRequest { Code = "print(sum(range(100000)), state)" }, CancellationToken.None);
                Assert.Equal("4999950000 kept\n", r.Stdout);
                n++;
                await Task.Delay(100);
            }
            return n;
        });
        var result = await _engine.Executions.ExecuteAsync(victim.Id, Owners.Alice, new ExecutionRequest
        {
            Code = code, Language = language, Timeout = TimeSpan.FromSeconds(timeout),
        }, CancellationToken.None);
        await stop.CancelAsync();
        Assert.True(await canaryRuns > 0);
        // The victim session still works afterwards.
        var after = await _engine.Executions.ExecuteAsync(victim.Id, Owners.Alice, new ExecutionRequest { Code = "print('still here')" }, CancellationToken.None);
        Assert.Equal("still here\n", after.Stdout);
        // Nothing the hostile code started is left running: init, runner, interpreter (and this check's own process at most).
        var procs = await _engine.Executions.ExecuteAsync(victim.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))",
        }, CancellationToken.None);
        Assert.True(int.Parse(procs.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture) <= 3, $"processes left: {procs.Stdout}");
        await _engine.Sessions.CloseAsync(victim.Id, Owners.Alice, CancellationToken.None);
        await _engine.Sessions.CloseAsync(canary.Id, Owners.Bob, CancellationToken.None);
        return result;
    }

    [Theory]
    [InlineData(IsolationTier.Gvisor)]
    [InlineData(IsolationTier.Container)]
    public async Task Python_fork_bomb_is_contained(IsolationTier tier)
    {
        var r = await WithCanary(tier, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass");
        Assert.True(r.TimedOut);
    }

    [Theory]
    [InlineData(IsolationTier.Gvisor)]
    [InlineData(IsolationTier.Container)]
    public async Task Bash_fork_bomb_is_contained(IsolationTier tier)
    {
        var r = await WithCanary(tier, ":(){ :|:& };:", "bash");
        Assert.True(r.TimedOut || r.ExitCode != 0);
    }

    [Fact]
    public async Task Memory_bomb_is_contained_in_the_container_tier()
    {
        var r = await WithCanary(IsolationTier.Container, "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))", timeout: 20,
            limits: new LimitsRequest { MemoryMb = 256 });
        Assert.NotNull(r.Error);
        Assert.True(r.Error.Type is "MemoryError" or "KernelDied", r.Error.Type);
        Assert.False(r.TimedOut);
    }

    [Fact]
    public async Task Memory_bomb_under_gvisor_ends_only_its_session_and_says_why()
    {
        // gVisor charges all of the sandbox's memory to its own kernel: the host's OOM killer stops the whole sandbox,
        // not just the code. The session is lost with that reason; the host, the server and other sessions are untouched.
        var victim = await _engine.Sessions.CreateAsync(new SessionSpec { Limits = new LimitsRequest { MemoryMb = 256 }, Isolation = IsolationTier.Gvisor },
            Owners.Alice, CancellationToken.None);
        var canary = await _engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Gvisor }, Owners.Bob, CancellationToken.None);
        await _engine.Executions.ExecuteAsync(canary.Id, Owners.Bob, new ExecutionRequest { Code = "state = 'kept'" }, CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Executions.ExecuteAsync(victim.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))", Timeout = TimeSpan.FromSeconds(20),
        }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        Assert.Contains("ran out of memory (its limit is 256 MiB); under gVisor", e.Message, StringComparison.Ordinal);
        Assert.Contains("ran out of memory", _engine.Sessions.Get(victim.Id, Owners.Alice).LostReason, StringComparison.Ordinal);
        Assert.Equal("kept\n", (await _engine.Executions.ExecuteAsync(canary.Id, Owners.Bob, new ExecutionRequest { Code = "print(state)" }, CancellationToken.None)).Stdout);
        await _engine.Sessions.CloseAsync(victim.Id, Owners.Alice, CancellationToken.None);
        await _engine.Sessions.CloseAsync(canary.Id, Owners.Bob, CancellationToken.None);
    }

    [Theory]
    [InlineData(IsolationTier.Gvisor)]
    [InlineData(IsolationTier.Container)]
    public async Task Disk_fill_ends_with_a_clear_error(IsolationTier tier)
    {
        var r = await WithCanary(tier, "with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 1048576)", timeout: 20,
            limits: new LimitsRequest { WorkspaceMb = 32 });
        Assert.Equal("OSError", r.Error?.Type);
        Assert.Contains("No space left on device", r.Error?.Message);
    }

    [Theory]
    [InlineData(IsolationTier.Gvisor)]
    [InlineData(IsolationTier.Container)]
    public async Task Fifty_megabyte_print_is_truncated_not_buffered(IsolationTier tier)
    {
        var r = await WithCanary(tier, "print('y' * 50_000_000)", timeout: 30);
        Assert.True(r.Truncated);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(new global::Sandbox.Execution.ExecutionOptions().MaxOutputChars, r.Stdout.Length);
    }

    /// <summary>Container tier only: under gVisor the host's OOM killer sees the sandbox as one process (see above).</summary>
    [Fact]
    public async Task User_code_is_the_oom_killers_first_choice_and_cannot_hide_behind_the_runner()
    {
        var r = await WithCanary(IsolationTier.Container, "print(open('/proc/self/oom_score_adj').read().strip())\ntry:\n    with open('/proc/self/oom_score_adj', 'w') as f:\n        f.write('-1000')\nexcept OSError as e:\n    print('refused', e.errno)\nprint(open('/proc/self/oom_score_adj').read().strip())");
        Assert.Equal("1000\nrefused 13\n1000\n", r.Stdout);
    }
}
