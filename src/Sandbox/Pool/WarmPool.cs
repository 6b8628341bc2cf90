using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Isolation;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Pool;

/// <summary>
/// Started, connected sandboxes with a ready interpreter waiting for sessions (idle, or frozen with
/// <see cref="PoolOptions.Pause"/>), so that creating a session costs a hand-over instead of a container start. Only
/// the default image with the default limits is pooled; a pooled sandbox is never reused after one session.
/// </summary>
public sealed partial class WarmPool(SandboxLauncher launcher, ISandboxBackend backend, IsolationPolicy isolation, IOptions<SandboxOptions> options,
    IOptions<PoolOptions> pool, ILogger<WarmPool> logger) : IAsyncDisposable
{
    /// <summary>The owner label of pooled sandboxes; the real owner is recorded by the session when one is taken.</summary>
    internal const string PoolOwner = "(warm-pool)";

    private readonly ConcurrentDictionary<IsolationTier, ConcurrentQueue<LaunchedSandbox>> _pools = new();
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _filling = new(1, 1);
    private int _fillRequested;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly SandboxOptions _options = options.Value;
    private readonly PoolOptions _pool = pool.Value;
    private readonly ILogger<WarmPool> _logger = logger;

    /// <summary>Sandboxes waiting in the pools of every tier.</summary>
    public int Count => _pools.Values.Sum(q => q.Count);

    /// <summary>Sandboxes waiting in one tier's pool.</summary>
    public int CountOf(IsolationTier tier) => _pools.TryGetValue(tier, out var q) ? q.Count : 0;

    private ConcurrentQueue<LaunchedSandbox> Queue(IsolationTier tier) => _pools.GetOrAdd(tier, _ => new ConcurrentQueue<LaunchedSandbox>());

    /// <summary>Whether a sandbox of this session id waits in the pool (the orphan sweep leaves those alone).</summary>
    public bool Holds(string sessionId) => _ids.ContainsKey(sessionId);

    /// <summary>Whether a session of this image and limits can come from the pool.</summary>
    internal bool Fits(string image, SandboxLimits limits) =>
        _pool.Size > 0 && image == _options.DefaultImage && limits == _options.DefaultLimits;

    /// <summary>A pooled sandbox of the tier, running, or null when none is ready. Starts a refill.</summary>
    internal async Task<LaunchedSandbox?> TakeAsync(IsolationTier tier, CancellationToken ct)
    {
        while (Queue(tier).TryDequeue(out var pooled))
        {
            _ids.TryRemove(pooled.Id, out _);
            try
            {
                if (pooled.Runner.ClosedReason is not null)
                {
                    throw RunnerConnection.Lost(pooled.Runner.ClosedReason);
                }
                if (_pool.Pause)
                {
                    await backend.UnpauseAsync(pooled.ContainerId, ct).ConfigureAwait(false);
                }
                RefillSoon();
                return pooled;
            }
            catch (SandboxException e)
            {
                // A broken pooled sandbox is discarded; the next one (or a fresh start) serves the request.
                LogDiscarded(_logger, pooled.Id, e.Message);
                await pooled.Runner.DisposeAsync().ConfigureAwait(false);
                await launcher.RemoveQuietlyAsync(pooled.Id).ConfigureAwait(false);
            }
        }
        return null;
    }

    /// <summary>Tops the pool of every tier the engine can run up to <see cref="PoolOptions.Size"/>. Returns how many
    /// were added.</summary>
    public async Task<int> FillAsync(CancellationToken ct)
    {
        if (_pool.Size <= 0)
        {
            return 0;
        }
        Interlocked.Exchange(ref _fillRequested, 1);
        var added = 0;
        // Whoever holds the fill goes round again while requests keep coming; a request that arrives just as it lets go
        // is taken by the next round of this loop rather than lost.
        while (Volatile.Read(ref _fillRequested) == 1 && await _filling.WaitAsync(0, ct).ConfigureAwait(false))
        {
            try
            {
                while (Interlocked.Exchange(ref _fillRequested, 0) == 1)
                {
                    foreach (var tier in (await isolation.GetStatusAsync(ct).ConfigureAwait(false)).Available)
                    {
                        added += await FillTierAsync(tier, ct).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                _filling.Release();
            }
        }
        return added;
    }

    private async Task<int> FillTierAsync(IsolationTier tier, CancellationToken ct)
    {
        var (_, runtime) = await isolation.ResolveAsync(tier, _options.DefaultImage, ct).ConfigureAwait(false);
        var queue = Queue(tier);
        var added = 0;
        while (queue.Count < _pool.Size && !ct.IsCancellationRequested)
        {
            var sandbox = await launcher.LaunchAsync(_options.DefaultImage, _options.DefaultLimits, PoolOwner, tier, runtime, ct).ConfigureAwait(false);
            try
            {
                // Its interpreter has finished starting, so a session's first call finds it ready.
                await WaitForInterpreterAsync(sandbox.Runner, ct).ConfigureAwait(false);
                if (_pool.Pause)
                {
                    await backend.PauseAsync(sandbox.ContainerId, ct).ConfigureAwait(false);
                }
            }
            catch
            {
                await sandbox.Runner.DisposeAsync().ConfigureAwait(false);
                await launcher.RemoveQuietlyAsync(sandbox.Id).ConfigureAwait(false);
                throw;
            }
            _ids[sandbox.Id] = 0;
            queue.Enqueue(sandbox);
            added++;
        }
        return added;
    }

    /// <summary>Waits (at most 30 s) until the runner reports its Python interpreter ready.</summary>
    private static async Task WaitForInterpreterAsync(Runner.RunnerConnection runner, CancellationToken ct)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var pong = await runner.AskAsync(new PingRequest(), TimeSpan.FromSeconds(10), "ping", bounded.Token).ConfigureAwait(false);
            if (Runner.RunnerJson.Bool(pong.Body, "kernel_ready") || !Runner.RunnerJson.Bool(pong.Body, "kernel"))
            {
                return;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(20), bounded.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Removes every pooled sandbox.</summary>
    public async Task DrainAsync(CancellationToken ct)
    {
        foreach (var queue in _pools.Values)
        {
            while (queue.TryDequeue(out var pooled))
            {
                _ids.TryRemove(pooled.Id, out _);
                await pooled.Runner.DisposeAsync().ConfigureAwait(false);
                await backend.RemoveSandboxAsync(pooled.Id, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Starts a refill in the background (after a take); failures are logged, never thrown.</summary>
    private void RefillSoon()
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await FillAsync(_lifetime.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException or ObjectDisposedException)
            {
                LogDiscarded(_logger, "(refill)", e.Message);
            }
        });
    }

    /// <summary>Stops refills, waits for one in flight to end (it removes what it was starting), and removes the
    /// pooled sandboxes (bounded to 30 s). Nothing of the pool's is still being made or removed when this returns.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        var holding = await _filling.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        try
        {
            using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await DrainAsync(drain.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogDiscarded(_logger, "(pool)", e.Message);
        }
        finally
        {
            if (holding)
            {
                _filling.Release();
            }
        }
        _lifetime.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm pool sandbox {SessionId} discarded: {Reason}")]
    private static partial void LogDiscarded(ILogger logger, string sessionId, string reason);
}
