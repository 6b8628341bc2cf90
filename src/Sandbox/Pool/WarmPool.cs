using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Pool;

/// <summary>
/// Started, connected, paused sandboxes waiting for sessions, so that creating a session costs an unpause instead of
/// a container start. Only the default image with the default limits is pooled; a pooled sandbox is never reused
/// after one session.
/// </summary>
public sealed partial class WarmPool : IAsyncDisposable
{
    /// <summary>The owner label of pooled sandboxes; the real owner is recorded by the session when one is taken.</summary>
    internal const string PoolOwner = "(warm-pool)";

    private readonly ConcurrentQueue<LaunchedSandbox> _pool = new();
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _filling = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly SandboxLauncher _launcher;
    private readonly ISandboxBackend _backend;
    private readonly SandboxOptions _options;
    private readonly ILogger<WarmPool> _logger;

    /// <summary>Creates the pool (empty until <see cref="FillAsync"/>).</summary>
    public WarmPool(SandboxLauncher launcher, ISandboxBackend backend, IOptions<SandboxOptions> options, ILogger<WarmPool> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _launcher = launcher;
        _backend = backend;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Sandboxes waiting in the pool.</summary>
    public int Count => _pool.Count;

    /// <summary>Whether a sandbox of this session id waits in the pool (the orphan sweep leaves those alone).</summary>
    public bool Holds(string sessionId) => _ids.ContainsKey(sessionId);

    /// <summary>Whether a session of this image and limits can come from the pool.</summary>
    internal bool Fits(string image, SandboxLimits limits) =>
        _options.Pool.Size > 0 && image == _options.DefaultImage && limits == _options.DefaultLimits;

    /// <summary>A pooled sandbox, unpaused, or null when none is ready. Starts a refill.</summary>
    internal async Task<LaunchedSandbox?> TakeAsync(CancellationToken ct)
    {
        while (_pool.TryDequeue(out var pooled))
        {
            _ids.TryRemove(pooled.Id, out _);
            try
            {
                if (pooled.Runner.ClosedReason is not null)
                {
                    throw RunnerConnection.Lost(pooled.Runner.ClosedReason);
                }
                await _backend.UnpauseAsync(pooled.ContainerId, ct).ConfigureAwait(false);
                RefillSoon();
                return pooled;
            }
            catch (SandboxException e)
            {
                // A broken pooled sandbox is discarded; the next one (or a fresh start) serves the request.
                LogDiscarded(_logger, pooled.Id, e.Message);
                await pooled.Runner.DisposeAsync().ConfigureAwait(false);
                await _launcher.RemoveQuietlyAsync(pooled.Id).ConfigureAwait(false);
            }
        }
        return null;
    }

    /// <summary>Tops the pool up to <see cref="PoolOptions.Size"/>. Returns how many were added.</summary>
    public async Task<int> FillAsync(CancellationToken ct)
    {
        if (_options.Pool.Size <= 0 || !await _filling.WaitAsync(0, ct).ConfigureAwait(false))
        {
            return 0;
        }
        try
        {
            var added = 0;
            while (_pool.Count < _options.Pool.Size && !ct.IsCancellationRequested)
            {
                var sandbox = await _launcher.LaunchAsync(_options.DefaultImage, _options.DefaultLimits, PoolOwner, ct).ConfigureAwait(false);
                try
                {
                    // Paused: a waiting sandbox costs no CPU; unpausing it takes milliseconds.
                    await _backend.PauseAsync(sandbox.ContainerId, ct).ConfigureAwait(false);
                }
                catch
                {
                    await sandbox.Runner.DisposeAsync().ConfigureAwait(false);
                    await _launcher.RemoveQuietlyAsync(sandbox.Id).ConfigureAwait(false);
                    throw;
                }
                _ids[sandbox.Id] = 0;
                _pool.Enqueue(sandbox);
                added++;
            }
            return added;
        }
        finally
        {
            _filling.Release();
        }
    }

    /// <summary>Removes every pooled sandbox.</summary>
    public async Task DrainAsync(CancellationToken ct)
    {
        while (_pool.TryDequeue(out var pooled))
        {
            _ids.TryRemove(pooled.Id, out _);
            await pooled.Runner.DisposeAsync().ConfigureAwait(false);
            await _backend.RemoveSandboxAsync(pooled.Id, ct).ConfigureAwait(false);
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

    /// <summary>Stops refills and removes the pooled sandboxes (bounded to 30 s).</summary>
    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            try
            {
                await DrainAsync(drain.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException)
            {
                LogDiscarded(_logger, "(pool)", e.Message);
            }
        }
        _lifetime.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm pool sandbox {SessionId} discarded: {Reason}")]
    private static partial void LogDiscarded(ILogger logger, string sessionId, string reason);
}
