using Microsoft.Extensions.Logging;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Durability;

/// <summary>Every store write about sessions: their records (so a restarted server can resume them) and their history
/// (the audit log). Services record what happened here; none writes to the store on its own.</summary>
public sealed partial class SessionJournal(ISessionStore store, TimeProvider time, ILogger<SessionJournal> logger)
{
    /// <summary>The store behind the journal.</summary>
    internal ISessionStore Store => store;

    /// <summary>Appends a lifecycle event (created, paused, resumed, lost, closed…) to a session's history.</summary>
    internal void Record(Session session, string kind, string? output = null) =>
        store.AppendHistory(new HistoryEntry(session.Id, session.Owner, kind, time.GetUtcNow(), Output: output));

    /// <summary>Appends a new session's "created" entry: where it came from, whether from the warm pool, its repository,
    /// setup commands, context mounts and network.</summary>
    internal void RecordCreated(Session session, string? origin, bool fromPool, int setupCommands, Egress.EgressGrant? network)
    {
        var notes = new List<string>();
        if (origin is not null)
        {
            notes.Add(origin);
        }
        if (fromPool)
        {
            notes.Add("from the warm pool");
        }
        if (session.Git is { } git)
        {
            notes.Add($"cloned {git.Url}{(git.Ref is null ? "" : " at " + git.Ref)} ({git.BaseCommit[..12]})");
        }
        if (setupCommands > 0)
        {
            notes.Add($"{setupCommands} setup commands");
        }
        if (session.Context.Count > 0)
        {
            notes.Add("context: " + string.Join(", ", session.Context));
        }
        if (network is not null)
        {
            notes.Add("network allow: " + (network.Requested.Count == 0 ? "(nothing)" : string.Join(", ", network.Requested))
                      + (network.Secrets.Count == 0 ? "" : "; secrets: " + string.Join(", ", network.Secrets)));
        }
        Record(session, "created", notes.Count == 0 ? null : string.Join("; ", notes));
    }

    /// <summary>Appends a full history entry (executions, installs, agent runs).</summary>
    internal void Record(HistoryEntry entry) => store.AppendHistory(entry);

    /// <summary>Saves a session's record (status, counters, last use).</summary>
    internal async Task PersistAsync(Session session, CancellationToken ct)
    {
        await store.SaveSessionAsync(session.ToRecord(), ct).ConfigureAwait(false);
    }

    /// <summary>Saves a session's record from a place that cannot fail (a callback); failures are logged.</summary>
    internal async Task PersistQuietlyAsync(Session session)
    {
        try
        {
            await PersistAsync(session, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e)
        {
            LogPersistFailed(logger, session.Id, e.Message);
        }
    }

    /// <summary>The first 1000 characters of an output for the history.</summary>
    internal static string Head(string text) => text.Length <= 1000 ? text : text[..1000] + "…";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: saving its record failed: {Error}")]
    private static partial void LogPersistFailed(ILogger logger, string sessionId, string error);
}
