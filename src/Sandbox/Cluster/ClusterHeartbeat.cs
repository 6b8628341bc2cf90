using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Sandbox.Cluster;

/// <summary>Runs <see cref="ClusterService"/>'s heartbeat: the first before the server takes requests (after the
/// sessions are recovered), then every <see cref="ClusterOptions.HeartbeatInterval"/>; at shutdown the node says it left.</summary>
public sealed partial class ClusterHeartbeat(ClusterService cluster, IOptions<ClusterOptions> options, ILogger<ClusterHeartbeat> logger) : BackgroundService
{
    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await cluster.StartAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!cluster.Enabled)
        {
            return;
        }
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                using var beat = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                beat.CancelAfter(options.Value.NodeTimeout);
                await cluster.BeatAsync(beat.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                LogBeatFailed(logger, e.Message);
            }
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await cluster.LeaveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogBeatFailed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster heartbeat failed: {Error}")]
    private static partial void LogBeatFailed(ILogger logger, string error);
}
