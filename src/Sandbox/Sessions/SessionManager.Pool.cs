using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Sandbox.Docker;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    /// <summary>A started, connected, paused container waiting for a session. Never reused after one.</summary>
    private sealed record PooledContainer(string Id, string ContainerId, RunnerConnection Runner);

    private readonly ConcurrentQueue<PooledContainer> _pool = new();
    private readonly ConcurrentDictionary<string, byte> _poolIds = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _poolFill = new(1, 1);

    /// <summary>Containers waiting in the warm pool.</summary>
    public int PooledCount => _pool.Count;

    private bool IsPooled(string sessionId) => _poolIds.ContainsKey(sessionId);

    /// <summary>Only the default image with the default limits is pooled: other requests start a container.</summary>
    private bool IsPoolable(string image, SandboxLimits limits) =>
        _options.WarmPoolSize > 0 && image == _options.DefaultImage && limits == _options.DefaultLimits;

    private async Task<(string Id, string ContainerId, RunnerConnection Runner)?> TakeFromPoolAsync(CancellationToken ct)
    {
        while (_pool.TryDequeue(out var pooled))
        {
            _poolIds.TryRemove(pooled.Id, out _);
            try
            {
                if (pooled.Runner.ClosedReason is not null)
                {
                    throw RunnerConnection.Lost(pooled.Runner.ClosedReason);
                }
                await _backend.UnpauseAsync(pooled.ContainerId, ct).ConfigureAwait(false);
                RefillSoon();
                return (pooled.Id, pooled.ContainerId, pooled.Runner);
            }
            catch (Exception e) when (e is SandboxException or global::Docker.DotNet.DockerApiException)
            {
                // A broken pool container is discarded; the next one (or a fresh start) serves the request.
                LogPoolDiscard(_logger, pooled.Id, e.Message);
                await pooled.Runner.DisposeAsync().ConfigureAwait(false);
                await RemoveQuietlyAsync(pooled.Id).ConfigureAwait(false);
            }
        }
        return null;
    }

    /// <summary>Starts a refill in the background (after a take); failures are logged, never thrown.</summary>
    private void RefillSoon()
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await FillPoolAsync(_lifetime.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException or global::Docker.DotNet.DockerApiException)
            {
                LogPoolDiscard(_logger, "(refill)", e.Message);
            }
        });
    }

    /// <summary>Tops the warm pool up to <see cref="SandboxOptions.WarmPoolSize"/>. Returns how many were added.</summary>
    public async Task<int> FillPoolAsync(CancellationToken ct)
    {
        if (_options.WarmPoolSize <= 0 || !await _poolFill.WaitAsync(0, ct).ConfigureAwait(false))
        {
            return 0;
        }
        try
        {
            var added = 0;
            while (_pool.Count < _options.WarmPoolSize && !ct.IsCancellationRequested)
            {
                var (id, containerId, runner) = await StartContainerAsync(_options.DefaultImage, _options.DefaultLimits, PoolOwner, ct).ConfigureAwait(false);
                try
                {
                    // Paused: a waiting container costs no CPU; unpausing it takes milliseconds.
                    await _backend.PauseAsync(containerId, ct).ConfigureAwait(false);
                }
                catch
                {
                    await runner.DisposeAsync().ConfigureAwait(false);
                    await RemoveQuietlyAsync(id).ConfigureAwait(false);
                    throw;
                }
                _poolIds[id] = 0;
                _pool.Enqueue(new PooledContainer(id, containerId, runner));
                added++;
            }
            return added;
        }
        finally
        {
            _poolFill.Release();
        }
    }

    private async Task DrainPoolAsync(CancellationToken ct)
    {
        while (_pool.TryDequeue(out var pooled))
        {
            _poolIds.TryRemove(pooled.Id, out _);
            await pooled.Runner.DisposeAsync().ConfigureAwait(false);
            await _backend.RemoveSessionAsync(pooled.Id, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The owner label of pooled containers; the real owner is recorded by the engine when one is taken.</summary>
    internal const string PoolOwner = "(warm-pool)";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm pool container {SessionId} discarded: {Reason}")]
    private static partial void LogPoolDiscard(ILogger logger, string sessionId, string reason);
}
