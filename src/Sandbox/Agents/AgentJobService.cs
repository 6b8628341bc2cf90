using Sandbox.Files;
using Sandbox.Sessions;

namespace Sandbox.Agents;

/// <summary>An agent job: a new session, what goes into its workspace, and one agent run, in one request.</summary>
public sealed record AgentJobRequest
{
    /// <summary>The session to create (image, limits, network allow list and secrets, git source, setup, time to live).</summary>
    public SessionSpec Session { get; init; } = new();

    /// <summary>An archive (zip, tar, tar.gz) unpacked into the workspace before the run: the directory the agent edits.</summary>
    public ReadOnlyMemory<byte>? Editable { get; init; }

    /// <summary>The workspace folder the archive is unpacked into; empty for the workspace itself.</summary>
    public string EditablePath { get; init; } = "";

    /// <summary>The run: prompt, agent, its options, skills and MCP servers.</summary>
    public required AgentRunRequest Run { get; init; }
}

/// <summary>
/// Agent jobs: create a session, unpack the editable archive into it, start the agent, and answer at once with the
/// running run (a job's id is its run's id). If anything before the run fails, the session is closed again and the
/// failure is the answer: nothing is left behind. After the run the session stays for inspection (files, diff,
/// archive of the workspace) until its time to live ends.
/// </summary>
public sealed class AgentJobService(SessionService sessions, WorkspaceArchives archives, AgentRunService agents)
{
    /// <summary>Starts a job and returns its run, running.</summary>
    public async Task<AgentRun> StartAsync(AgentJobRequest request, string owner, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = await sessions.CreateAsync(request.Session, owner, ct).ConfigureAwait(false);
        try
        {
            if (request.Editable is { } editable)
            {
                using var archive = new MemoryStream(editable.ToArray(), writable: false);
                await archives.UploadAsync(session.Id, owner, request.EditablePath, archive, archive.Length, ct).ConfigureAwait(false);
            }
            return await agents.StartAsync(session.Id, owner, request.Run, ct).ConfigureAwait(false);
        }
        catch
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await sessions.CloseAsync(session.Id, owner, cleanup.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException)
            {
                // The failure that stopped the job is the answer; a session that would not close is reaped by its TTL.
            }
            throw;
        }
    }

    /// <summary>A job's run (its status, result, trajectory and diff).</summary>
    public async Task<AgentRun> GetAsync(string jobId, string owner, CancellationToken ct) =>
        await agents.GetAsync(await agents.SessionOfRunAsync(owner, jobId, ct).ConfigureAwait(false), owner, jobId, ct).ConfigureAwait(false);

    /// <summary>Waits for a job's run to end and returns it.</summary>
    public async Task<AgentRun> WaitAsync(string jobId, string owner, CancellationToken ct)
    {
        var sessionId = await agents.SessionOfRunAsync(owner, jobId, ct).ConfigureAwait(false);
        AgentRun? final = null;
        await foreach (var e in agents.WatchAsync(sessionId, owner, jobId, ct).ConfigureAwait(false))
        {
            if (e is AgentCompletedEvent done)
            {
                final = done.Run;
            }
        }
        return final ?? await agents.GetAsync(sessionId, owner, jobId, ct).ConfigureAwait(false);
    }

    /// <summary>A job's events: its steps so far, then live ones, then the finished run.</summary>
    public async IAsyncEnumerable<AgentRunEvent> WatchAsync(string jobId, string owner, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var sessionId = await agents.SessionOfRunAsync(owner, jobId, ct).ConfigureAwait(false);
        await foreach (var e in agents.WatchAsync(sessionId, owner, jobId, ct).ConfigureAwait(false))
        {
            yield return e;
        }
    }
}
