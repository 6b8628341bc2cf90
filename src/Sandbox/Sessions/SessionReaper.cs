using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Pool;

namespace Sandbox.Sessions;

/// <summary>Removes orphaned containers at start, then closes idle and expired sessions on a timer.</summary>
public sealed partial class SessionReaper(SessionService sessions, SessionRecovery recovery, WarmPool pool, IOptions<SandboxOptions> options,
    ILogger<SessionReaper> logger) : BackgroundService
{
    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the server takes requests: open the store (a clear error here stops the start), reconnect sessions,
        // remove orphans. An unreachable engine is not fatal: the server starts and /healthz says why.
        try
        {
            await recovery.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.EngineUnavailable)
        {
            LogFailed(logger, e.Code, e.Message);
        }
        // Say at start whether the images sessions need are there, not at the first session.
        var health = await sessions.GetHealthAsync(cancellationToken).ConfigureAwait(false);
        foreach (var image in health.Images.Where(i => i.Present))
        {
            LogImagePresent(logger, image.Name, image.Reference);
        }
        foreach (var problem in health.Problems)
        {
            LogProblem(logger, problem);
        }
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await FillPoolAsync(stoppingToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(options.Value.ReaperInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await FillPoolAsync(stoppingToken).ConfigureAwait(false);
            await PassAsync(async () =>
            {
                await recovery.PersistAllAsync(stoppingToken).ConfigureAwait(false);
                var closed = await sessions.ReapAsync(stoppingToken).ConfigureAwait(false);
                if (closed > 0)
                {
                    LogReaped(logger, closed);
                }
            }, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one pass; failures are logged, and an interruption by shutdown is not a failure.</summary>
    private async Task PassAsync(Func<Task> pass, CancellationToken ct)
    {
        try
        {
            await pass().ConfigureAwait(false);
        }
        catch (SandboxException e) when (!ct.IsCancellationRequested)
        {
            LogFailed(logger, e.Code, e.Message);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is SandboxException or OperationCanceledException)
        {
            // Shutting down: the pass was interrupted on purpose.
        }
    }

    private Task FillPoolAsync(CancellationToken ct) => PassAsync(async () =>
    {
        var added = await pool.FillAsync(ct).ConfigureAwait(false);
        if (added > 0)
        {
            LogPoolFilled(logger, added);
        }
    }, ct);

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
            await recovery.ShutdownAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogFailed(logger, e is SandboxException s ? s.Code : "timeout", e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reaper closed {Count} idle or expired sessions")]
    private static partial void LogReaped(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reaper pass failed ({Code}): {Message}")]
    private static partial void LogFailed(ILogger logger, string code, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Image {Name} ({Reference}) is present")]
    private static partial void LogImagePresent(ILogger logger, string name, string reference);

    [LoggerMessage(Level = LogLevel.Error, Message = "Not ready: {Problem}")]
    private static partial void LogProblem(ILogger logger, string problem);
}
