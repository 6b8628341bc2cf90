using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Sessions;

namespace Sandbox.Agents;

/// <summary>The agent runs this server holds in memory: every running one, and the most recent finished ones (watchers
/// may still attach); older runs are read from the store.</summary>
public sealed partial class AgentRunTracker(IOptions<AgentOptions> options, IOptions<SandboxOptions> engine, ILogger<AgentRunTracker> logger)
{
    private readonly ConcurrentDictionary<string, AgentRunState> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _finished = new();
    private readonly AgentOptions _options = options.Value;
    private readonly TimeSpan _killGrace = engine.Value.KillGrace;

    internal void Add(AgentRunState state) => _runs[state.Id] = state;

    /// <summary>The caller's run in memory, if it is there.</summary>
    internal AgentRunState? Find(string sessionId, string owner, string? runId) =>
        _runs.TryGetValue(runId ?? "", out var state) && state.Session.Id == sessionId && state.Session.Owner == owner ? state : null;

    /// <summary>The session of the caller's run in memory, by the run's id alone, if it is there.</summary>
    internal string? SessionOf(string owner, string runId) =>
        _runs.TryGetValue(runId, out var state) && state.Session.Owner == owner ? state.Session.Id : null;

    /// <summary>The runs of one session in memory.</summary>
    internal IEnumerable<AgentRunState> OfSession(string sessionId, string owner) =>
        _runs.Values.Where(s => s.Session.Id == sessionId && s.Session.Owner == owner);

    /// <summary>Whether a run is going on in the session.</summary>
    public bool IsRunningIn(string sessionId) => _runs.Values.Any(r => r.Session.Id == sessionId && !r.Completion.IsCompleted);

    /// <summary>Cancels the session's running runs (the agent dies with the sandbox).</summary>
    internal void CancelIn(Session session, string reason)
    {
        foreach (var run in _runs.Values.Where(r => r.Session == session && !r.Completion.IsCompleted))
        {
            run.CancelByCaller(reason);
        }
    }

    /// <summary>Keeps a finished run among the recent ones; the oldest beyond the limit are dropped from memory.</summary>
    public void Finished(string runId)
    {
        _finished.Enqueue(runId);
        while (_finished.Count > _options.RecentRunsKept && _finished.TryDequeue(out var old))
        {
            if (_runs.TryRemove(old, out var gone))
            {
                gone.Dispose();
            }
        }
    }

    /// <summary>Kills every running agent (their runs end as cancelled) and waits, bounded, for them to be recorded:
    /// an agent must not keep running in a sandbox the server no longer watches.</summary>
    public async Task StopAllAsync(string why)
    {
        var running = _runs.Values.Where(r => !r.Completion.IsCompleted).ToList();
        if (running.Count == 0)
        {
            return;
        }
        LogStoppingRuns(logger, running.Count, why);
        foreach (var run in running)
        {
            run.CancelByCaller("The run was stopped because " + why);
        }
        try
        {
            await Task.WhenAll(running.Select(r => r.Completion)).WaitAsync(_killGrace + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStoppingRunsTimedOut(logger);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping {Count} agent runs: {Reason}")]
    private static partial void LogStoppingRuns(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent runs did not all stop in time")]
    private static partial void LogStoppingRunsTimedOut(ILogger logger);
}
