using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Sandbox.Sessions;

/// <summary>Removes orphaned containers at start, then closes idle and expired sessions on a timer.</summary>
public sealed partial class SessionReaper(SessionManager sessions, ILogger<SessionReaper> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var orphans = await sessions.RemoveOrphansAsync(stoppingToken).ConfigureAwait(false);
            if (orphans > 0)
            {
                LogOrphans(logger, orphans);
            }
        }
        catch (SandboxException e)
        {
            LogFailed(logger, e.Code, e.Message);
        }
        await FillPoolAsync(stoppingToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(sessions.Options.ReaperInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await FillPoolAsync(stoppingToken).ConfigureAwait(false);
            try
            {
                var closed = await sessions.ReapAsync(stoppingToken).ConfigureAwait(false);
                if (closed > 0)
                {
                    LogReaped(logger, closed);
                }
            }
            catch (SandboxException e)
            {
                LogFailed(logger, e.Code, e.Message);
            }
        }
    }

    private async Task FillPoolAsync(CancellationToken ct)
    {
        try
        {
            var added = await sessions.FillPoolAsync(ct).ConfigureAwait(false);
            if (added > 0)
            {
                LogPoolFilled(logger, added);
            }
        }
        catch (SandboxException e)
        {
            LogFailed(logger, e.Code, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Warm pool: started {Count} containers")]
    private static partial void LogPoolFilled(ILogger logger, int count);

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await sessions.CloseAllAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogFailed(logger, e is SandboxException s ? s.Code : "timeout", e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed {Count} orphaned sandbox containers")]
    private static partial void LogOrphans(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reaper closed {Count} idle or expired sessions")]
    private static partial void LogReaped(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reaper pass failed ({Code}): {Message}")]
    private static partial void LogFailed(ILogger logger, string code, string message);
}
