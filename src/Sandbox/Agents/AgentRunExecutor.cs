using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using Sandbox.Storage;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Agents;

/// <summary>
/// One agent run, detached from any request: snapshot the workspace, open the run's network and model proxy, run the
/// agent process through the runner under the deadline, close the network, diff the workspace, record the run. Any
/// failure ends the run as failed with the reason; nothing escapes unobserved.
/// </summary>
public sealed partial class AgentRunExecutor(SessionRegistry registry, AgentRunTracker runs, AgentModelAccess access, SessionJournal journal,
    Git.GitService git, IOptions<SandboxOptions> options, IOptions<AgentOptions> agents, TimeProvider time, ILogger<AgentRunExecutor> logger)
{
    private readonly SandboxOptions _options = options.Value;
    private readonly AgentOptions _agents = agents.Value;

    internal async Task ExecuteAsync(AgentRunState state, AgentLaunch launch, ModelProxyConfig config, TimeSpan timeout)
    {
        var session = state.Session;
        string? error = null;
        int? exitCode = null;
        var timedOut = false;
        var diff = (Changes: (IReadOnlyList<AgentFileChange>)[], Text: "", Truncated: false);
        (string Branch, string Base)? gitRun = null;
        Git.GitRunChanges? gitChanges = null;
        var token = state.Cancellation.Token;
        try
        {
            await registry.EnsureRunningAsync(session, token).ConfigureAwait(false);
            var snapshot = await session.Live.AskAsync(new SnapshotRequest(Baseline: true), TimeSpan.FromMinutes(2), "workspace snapshot", token).ConfigureAwait(false);
            if (snapshot.Type != "snapshot")
            {
                throw new SandboxException(SandboxErrorCodes.Internal, "The workspace snapshot failed: " + SafeText.Shorten(Str(snapshot.Body, "message")));
            }
            if (session.Git is not null)
            {
                gitRun = state.ContinuesGit is { } earlier
                    ? await git.ResumeRunAsync(session, earlier.Branch, earlier.BaseCommit, token).ConfigureAwait(false)
                    : await git.BeginRunAsync(session, state.Id, state.Branch, token).ConfigureAwait(false);
            }
            (exitCode, timedOut) = await RunInNetworkAsync(state, launch, config, timeout, gitRun?.Base, token).ConfigureAwait(false);
            if (session.Runner is { ClosedReason: null })
            {
                diff = await DiffAsync(session).ConfigureAwait(false);
                if (gitRun is { } g)
                {
                    (gitChanges, diff.Text, diff.Truncated) = await CollectGitAsync(session, g.Branch, g.Base).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Cancelled before the agent started (while preparing): nothing ran.
        }
        catch (SandboxException e)
        {
            error = e.Message;
        }
        catch (OperationCanceledException)
        {
            error = $"Starting the run's model proxy and network took longer than {_options.CreateTimeout.TotalSeconds} s (Sandbox:CreateTimeout).";
        }
        catch (Exception e)
        {
            // This runs detached from any request: whatever went wrong ends the run as failed, with the reason, and is
            // logged; nothing may escape unobserved.
            error = "The agent run failed inside the server: " + e.Message;
            LogAgentFailed(logger, state.Id, e.GetType().Name + ": " + e.Message);
        }
        finally
        {
            var final = state.Finish(run =>
            {
                var status = state.CancelledByCaller ? AgentRunStatus.Cancelled
                    : timedOut ? AgentRunStatus.TimedOut
                    : error is null && exitCode == 0 && state.Outcome.ReportedError is null ? AgentRunStatus.Succeeded
                    : AgentRunStatus.Failed;
                var why = status switch
                {
                    AgentRunStatus.Cancelled => state.CancelReason + "; the agent was killed.",
                    AgentRunStatus.TimedOut => $"The run reached its time limit of {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s; the agent was killed.",
                    AgentRunStatus.Failed => error ?? state.Outcome.ReportedError ?? $"The agent exited with status {exitCode}." + LastLine(run.Stderr),
                    _ => null,
                };
                return run with
                {
                    Status = status, Error = why, ExitCode = exitCode, EndedAt = time.GetUtcNow(),
                    Changes = diff.Changes, Diff = diff.Text, DiffTruncated = diff.Truncated, Git = gitChanges,
                    Summary = ChangeSummary.Of(diff.Changes, diff.Text, gitChanges?.Commits.Count ?? 0).Text,
                };
            });
            await FinishAsync(state, final).ConfigureAwait(false);
        }
    }

    /// <summary>Opens the run's network and proxy (bounded by <see cref="SandboxOptions.CreateTimeout"/>), runs the
    /// agent, and always closes the network again.</summary>
    private async Task<(int? ExitCode, bool TimedOut)> RunInNetworkAsync(AgentRunState state, AgentLaunch launch, ModelProxyConfig config,
        TimeSpan timeout, string? baseCommit, CancellationToken token)
    {
        IModelProxy? proxy = null;
        try
        {
            proxy = await access.OpenAsync(state.Session, config, token).ConfigureAwait(false);
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(token);
            var commits = WatchCommitsAsync(state, baseCommit, watching.Token);
            try
            {
                return await RunProcessAsync(state, launch, timeout).ConfigureAwait(false);
            }
            finally
            {
                await watching.CancelAsync().ConfigureAwait(false);
                await commits.ConfigureAwait(false);
            }
        }
        finally
        {
            if (proxy is not null)
            {
                LogProxyRequests(logger, state.Id, proxy.Requests);
            }
            await access.CloseAsync(state.Session, proxy).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the agent process through the runner, feeding its output into the run; kills it at the deadline
    /// or on cancellation. Returns its exit status and whether the deadline stopped it.</summary>
    private async Task<(int? ExitCode, bool TimedOut)> RunProcessAsync(AgentRunState state, AgentLaunch launch, TimeSpan timeout)
    {
        var runner = state.Session.Live;
        var pending = new StringBuilder();
        int? exitCode = null;
        var end = await RunnerCommand.RunAsync(runner, runner.NewId(), new ExecRequest
        {
            Language = "argv", Argv = launch.Argv, Env = launch.Env, MaxOutput = _agents.MaxTrajectoryChars,
        }, timeout, _options.KillGrace, time, message =>
        {
            switch (message.Type)
            {
                case "out" when Str(message.Body, "stream") == "stderr":
                    state.AddStderr(Str(message.Body, "data") ?? "");
                    return ValueTask.FromResult(false);
                case "out":
                    pending.Append(Str(message.Body, "data") ?? "");
                    for (var nl = pending.IndexOf('\n'); nl >= 0; nl = pending.IndexOf('\n'))
                    {
                        state.AddLine(pending.ToString(0, nl));
                        pending.Remove(0, nl + 1);
                    }
                    if (pending.Length > _agents.MaxTrajectoryChars)
                    {
                        pending.Clear();
                        state.MarkTruncated();
                    }
                    return ValueTask.FromResult(false);
                case "error" when Str(message.Body, "code") == "command_not_found":
                    throw new SandboxException(SandboxErrorCodes.AgentUnavailable,
                        $"This session's image has no '{SafeText.Shorten(launch.Argv[0])}' command for agent '{state.Agent.Name}'. Create the session with image 'agent' (create_session image=\"agent\") and run the agent there.");
                case "error":
                    throw new SandboxException(Str(message.Body, "code") == "session_busy" ? SandboxErrorCodes.SessionBusy : SandboxErrorCodes.Internal,
                        "The sandbox refused the agent run: " + SafeText.Shorten(Str(message.Body, "message")));
                case "done":
                    if (pending.Length > 0)
                    {
                        state.AddLine(pending.ToString());
                    }
                    if (Bool(message.Body, "truncated"))
                    {
                        state.MarkTruncated();
                    }
                    exitCode = Int(message.Body, "exit_code");
                    return ValueTask.FromResult(true);
                default:
                    return ValueTask.FromResult(false);
            }
        }, state.Cancellation.Token).ConfigureAwait(false);
        if (end.Hung)
        {
            await registry.KillHungAsync(state.Session).ConfigureAwait(false);
            return (null, end.DeadlineHit);
        }
        return (exitCode, end.DeadlineHit);
    }

    /// <summary>While the agent works, looks for its new commits in the workspace's repository (from the run's base, or
    /// the HEAD it started at) every <see cref="AgentOptions.CommitWatchInterval"/>, and once more as it ends: each is an
    /// event of the run. Never fails the run: a workspace without a repository has none, a failed look is tried again.</summary>
    private async Task WatchCommitsAsync(AgentRunState state, string? since, CancellationToken stop)
    {
        var runner = state.Session.Live;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var timer = new PeriodicTimer(_agents.CommitWatchInterval, time);
        while (true)
        {
            var last = stop.IsCancellationRequested;
            try
            {
                // The token bounds the send too (AskAsync's own timeout bounds only the wait for the answer).
                using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var reply = await runner.AskAsync(new CommitsRequest(since, 100), TimeSpan.FromSeconds(30), "commits", bounded.Token).ConfigureAwait(false);
                if (reply.Type != "commits")
                {
                    return; // no git in this image, or the runner cannot look: no commit events for this run
                }
                if (reply.Body.TryGetProperty("commits", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    foreach (var c in list.EnumerateArray())
                    {
                        if (Str(c, "id") is { } id && seen.Add(id))
                        {
                            var files = c.TryGetProperty("files", out var f) && f.ValueKind == JsonValueKind.Array
                                ? f.EnumerateArray().Select(x => x.GetString() ?? "").Where(x => x.Length > 0).ToList() : [];
                            state.AddCommit(new AgentCommit(id, Str(c, "subject") ?? "", files));
                        }
                    }
                }
                // Without a commit to count from, the runner answers only the HEAD: a repository the agent makes itself
                // counts from its first commit on.
                since = Str(reply.Body, "head") ?? since;
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException or TimeoutException or IOException)
            {
                if (state.Session.Runner is not { ClosedReason: null })
                {
                    return;
                }
            }
            if (last)
            {
                return;
            }
            try
            {
                await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The agent ended: one last look, so a commit made just before the end is an event too.
            }
        }
    }

    /// <summary>The workspace's changes since the run's snapshot; a failure becomes a note in place of the diff.</summary>
    private async Task<(IReadOnlyList<AgentFileChange> Changes, string Text, bool Truncated)> DiffAsync(Session session)
    {
        try
        {
            var reply = await session.Live.AskAsync(new DiffRequest(_agents.MaxDiffChars),
                TimeSpan.FromMinutes(2), "workspace diff", CancellationToken.None).ConfigureAwait(false);
            return reply.Type == "diff"
                ? (ParseChanges(reply.Body), Str(reply.Body, "diff") ?? "", Bool(reply.Body, "truncated"))
                : ([], "(no diff: " + SafeText.Shorten(Str(reply.Body, "message")) + ")", true);
        }
        catch (SandboxException e)
        {
            return ([], "(no diff: " + e.Message + ")", true);
        }
    }

    /// <summary>The run's commits and uncommitted changes, and the diff against its base; a failure keeps the
    /// workspace diff and says why in place of the git facts.</summary>
    private async Task<(Git.GitRunChanges? Changes, string Diff, bool Truncated)> CollectGitAsync(Session session, string branch, string baseCommit)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            return await git.CollectRunAsync(session, branch, baseCommit, _agents.MaxDiffChars, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            return (null, "(no git diff: " + e.Message + ")", true);
        }
    }

    /// <summary>Frees the session (so a caller that gets the result can use it at once), records the run, then tells
    /// the watchers and waiters.</summary>
    private async Task FinishAsync(AgentRunState state, AgentRun final)
    {
        var session = state.Session;
        registry.Release(session, SessionWork.AgentRun);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await state.PendingSave.WaitAsync(cts.Token).ConfigureAwait(false);
            await journal.Store.SaveAgentRunAsync(final, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            SessionService.LogCleanupFailed(logger, session.Id, "saving agent run: " + e.Message);
        }
        journal.Record(new HistoryEntry(session.Id, session.Owner, "agent_run", time.GetUtcNow(), final.Agent,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(final.Prompt))), final.Prompt.Length, final.ExitCode,
            final.Status == AgentRunStatus.Succeeded ? null : final.Status.ToString(), final.Status == AgentRunStatus.TimedOut, final.DurationMs,
            SessionJournal.Head(final.FinalMessage ?? final.Error ?? "")));
        LogAgentFinished(logger, final.Id, session.Id, final.Status, final.DurationMs, final.Trajectory.Count, final.Changes.Count);
        state.Publish(final);
        runs.Finished(final.Id);
    }

    /// <summary>Records a run while it runs (as it starts, and once the agent names its conversation), so that if the
    /// server ends before the run does, the run is found after a restart (failed, with its conversation to continue).
    /// Never fails the run: a store that cannot take it now takes the final record later.</summary>
    internal async Task SaveRunningAsync(AgentRun run)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await journal.Store.SaveAgentRunAsync(AgentRunStore.Summary(run) with { Status = AgentRunStatus.Running }, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            SessionService.LogCleanupFailed(logger, run.SessionId, "recording the running agent run: " + e.Message);
        }
    }

    private static List<AgentFileChange> ParseChanges(JsonElement body)
    {
        var list = new List<AgentFileChange>();
        if (!body.TryGetProperty("changes", out var changes) || changes.ValueKind != JsonValueKind.Array)
        {
            return list;
        }
        foreach (var c in changes.EnumerateArray())
        {
            if (Str(c, "path") is { } path && Str(c, "change") is { } change)
            {
                list.Add(new AgentFileChange(path, change, Bool(c, "binary"), Long(c, "size")));
            }
        }
        return list;
    }

    private static string LastLine(string text)
    {
        var line = text.TrimEnd().Split('\n').LastOrDefault()?.Trim();
        return string.IsNullOrEmpty(line) ? "" : " Last error output: " + SafeText.Shorten(line);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId} in session {SessionId} ended {Status} after {DurationMs:F0} ms: {Events} events, {Changes} files changed")]
    private static partial void LogAgentFinished(ILogger logger, string runId, string sessionId, AgentRunStatus status, double durationMs, int events, int changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId}: the model proxy handled {Requests} requests")]
    private static partial void LogProxyRequests(ILogger logger, string runId, int requests);

    [LoggerMessage(Level = LogLevel.Error, Message = "Agent run {RunId} failed inside the server: {Error}")]
    private static partial void LogAgentFailed(ILogger logger, string runId, string error);
}
