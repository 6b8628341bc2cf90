using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Agents;
using Sandbox.Docker;
using Sandbox.Storage;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    private const string AgentHome = "/tmp/.agent-home";
    /// <summary>What the agent holds instead of a key: the model proxy adds the real one to each request.</summary>
    internal const string PlaceholderKey = "sk-sandbox-proxy-holds-the-real-key";

    private readonly ConcurrentDictionary<string, AgentRunState> _agentRuns = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _finishedRuns = new();
    private readonly ConcurrentDictionary<string, IAgentRunner> _agents = new(StringComparer.Ordinal)
    {
        [ClaudeCodeAgent.AgentName] = new ClaudeCodeAgent(),
        [CommandAgent.AgentName] = new CommandAgent(),
    };

    /// <summary>Adds (or replaces) an agent callers can name in <see cref="AgentRunRequest.Agent"/>.</summary>
    public void RegisterAgent(IAgentRunner agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        _agents[agent.Name] = agent;
    }

    /// <summary>
    /// Starts an agent in the session's workspace and returns at once with the running run; follow it with
    /// <see cref="WatchAgentRunAsync"/> or <see cref="GetAgentRunAsync"/>. One run or execution at a time per session.
    /// </summary>
    public Task<AgentRun> StartAgentRunAsync(string sessionId, string owner, AgentRunRequest request, CancellationToken ct)
    {
        var state = Start(sessionId, owner, request);
        return Task.FromResult(state.Snapshot());
    }

    /// <summary>Runs an agent and returns the finished run. Cancelling <paramref name="ct"/> kills the agent.</summary>
    public async Task<AgentRun> RunAgentAsync(string sessionId, string owner, AgentRunRequest request, CancellationToken ct)
    {
        AgentRun? final = null;
        await foreach (var e in RunAgentStreamingAsync(sessionId, owner, request, ct).ConfigureAwait(false))
        {
            if (e is AgentCompletedEvent done)
            {
                final = done.Run;
            }
        }
        return final ?? throw new SandboxException(SandboxErrorCodes.Internal, "The agent run ended without a result.");
    }

    /// <summary>Runs an agent, yielding its steps as it works and the finished run last. A consumer that stops
    /// listening (or cancels) kills the agent.</summary>
    public async IAsyncEnumerable<AgentRunEvent> RunAgentStreamingAsync(string sessionId, string owner, AgentRunRequest request,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var state = Start(sessionId, owner, request, out var watcher);
        var completed = false;
        try
        {
            while (await watcher.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (watcher.TryRead(out var e))
                {
                    completed |= e is AgentCompletedEvent;
                    yield return e;
                }
            }
        }
        finally
        {
            if (!completed)
            {
                state.CancelByCaller();
                await state.Completion.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Follows a run: its steps so far, then live ones, then the finished run. Watching never cancels it.</summary>
    public async IAsyncEnumerable<AgentRunEvent> WatchAgentRunAsync(string sessionId, string owner, string runId,
        [EnumeratorCancellation] CancellationToken ct)
    {
        if (_agentRuns.TryGetValue(runId, out var state) && state.Session.Id == sessionId && state.Session.Owner == owner)
        {
            var watcher = state.Watch();
            while (await watcher.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (watcher.TryRead(out var e))
                {
                    yield return e;
                }
            }
            yield break;
        }
        yield return new AgentCompletedEvent(await GetAgentRunAsync(sessionId, owner, runId, ct).ConfigureAwait(false));
    }

    /// <summary>A run with its trajectory and diff: live while it runs, from the store after.</summary>
    public async Task<AgentRun> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (_agentRuns.TryGetValue(runId ?? "", out var state) && state.Session.Id == sessionId && state.Session.Owner == owner)
        {
            return state.Snapshot();
        }
        return await _store.GetAgentRunAsync(sessionId, owner, runId ?? "", ct).ConfigureAwait(false)
               ?? throw new SandboxException(SandboxErrorCodes.RunNotFound,
                   $"No agent run '{Shorten(runId)}' in session '{Shorten(sessionId)}'. List the session's runs with list_agent_runs.");
    }

    /// <summary>A session's runs, newest first, without trajectories and diffs.</summary>
    public async Task<IReadOnlyList<AgentRun>> ListAgentRunsAsync(string sessionId, string owner, CancellationToken ct)
    {
        var stored = await _store.ListAgentRunsAsync(sessionId, owner, 100, ct).ConfigureAwait(false);
        if (stored.Count == 0 && !_sessions.ContainsKey(sessionId))
        {
            Get(sessionId, owner); // unknown session: say so rather than return an empty list
        }
        var live = _agentRuns.Values.Where(s => s.Session.Id == sessionId && s.Session.Owner == owner)
            .Select(s => AgentRunStore.Summary(s.Snapshot())).ToDictionary(r => r.Id, StringComparer.Ordinal);
        return stored.Select(r => live.GetValueOrDefault(r.Id, r)).Concat(live.Values.Where(r => stored.All(s => s.Id != r.Id)))
            .OrderByDescending(r => r.StartedAt).ToList();
    }

    /// <summary>Cancels a running run (the agent is killed) and returns it once it has ended.</summary>
    public async Task<AgentRun> CancelAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct)
    {
        if (_agentRuns.TryGetValue(runId ?? "", out var state) && state.Session.Id == sessionId && state.Session.Owner == owner)
        {
            state.CancelByCaller();
            return await state.Completion.WaitAsync(ct).ConfigureAwait(false);
        }
        return await GetAgentRunAsync(sessionId, owner, runId!, ct).ConfigureAwait(false);
    }

    private AgentRunState Start(string sessionId, string owner, AgentRunRequest request) => Start(sessionId, owner, request, out _, watch: false);

    private AgentRunState Start(string sessionId, string owner, AgentRunRequest request, out ChannelReader<AgentRunEvent> watcher) =>
        Start(sessionId, owner, request, out watcher, watch: true);

    private AgentRunState Start(string sessionId, string owner, AgentRunRequest request, out ChannelReader<AgentRunEvent> watcher, bool watch)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var (agent, timeout, endpoint) = ValidateAgentRequest(request);
        var launch = agent.Build(request, new AgentContext($"http://{DockerBackend.ModelProxyHost}:{DockerBackend.ModelProxyPort}", PlaceholderKey, AgentHome));
        Claim(session, _agentSlots,
            $"Session {session.Id} is running another execution or agent run. Wait for it to finish, or use another session.",
            $"The server already runs its maximum of {_options.Agents.MaxConcurrentRuns} agent runs. Retry later.");
        var apiKey = string.IsNullOrEmpty(request.ApiKey) ? _options.Agents.ApiKey : request.ApiKey;
        var secrets = request.Env.Values.Append(apiKey ?? "").ToList();
        var run = new AgentRun
        {
            Id = "run_" + NewSessionId(), SessionId = session.Id, Owner = owner, Agent = agent.Name, Model = request.Model,
            Prompt = request.Prompt, ModelEndpoint = endpoint.GetLeftPart(UriPartial.Path), Status = AgentRunStatus.Running,
            StartedAt = _time.GetUtcNow(),
        };
        var state = new AgentRunState(run, session, agent, secrets, _options.Agents.MaxTrajectoryChars);
        watcher = watch ? state.Watch() : Channel.CreateUnbounded<AgentRunEvent>().Reader;
        _agentRuns[run.Id] = state;
        LogAgentStarted(_logger, run.Id, session.Id, agent.Name, owner);
        var config = new ModelProxyConfig(endpoint, _options.Agents.AuthHeader, string.IsNullOrEmpty(apiKey) ? null : apiKey, _options.Agents.AllowedPaths);
        _ = Task.Run(() => ExecuteAgentRunAsync(state, launch, config, timeout), CancellationToken.None);
        return state;
    }

    private (IAgentRunner Agent, TimeSpan Timeout, Uri Endpoint) ValidateAgentRequest(AgentRunRequest request)
    {
        if (!_agents.TryGetValue(request.Agent ?? "", out var agent))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Unknown agent '{Shorten(request.Agent)}'. Use one of: {string.Join(", ", _agents.Keys.Order(StringComparer.Ordinal))}.");
        }
        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "prompt is required: say what the agent should do.");
        }
        if (request.Prompt.Length > _options.Agents.MaxPromptChars || (request.SystemPrompt?.Length ?? 0) > _options.Agents.MaxPromptChars)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"prompt and system_prompt may have at most {_options.Agents.MaxPromptChars} characters each; put long material in a file in the workspace and refer to it.");
        }
        if (request.MaxTurns is < 1 or > 1000)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "max_turns must be between 1 and 1000.");
        }
        var timeout = request.Timeout ?? _options.Agents.DefaultTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout must be positive.");
        }
        if (timeout > _options.Agents.MaxTimeout)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"timeout {timeout.TotalSeconds} s is above the server maximum of {_options.Agents.MaxTimeout.TotalSeconds} s for agent runs.");
        }
        if (request.Env.Count > 64)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "env may hold at most 64 variables.");
        }
        foreach (var (name, value) in request.Env)
        {
            if (!EnvName().IsMatch(name) || ReservedEnv(name))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"env name '{Shorten(name)}' is not allowed: use letters, digits and _, and none of HOME, PATH or names starting with ANTHROPIC_, AGENT_, CLAUDE_CODE_ or SANDBOX_ (the server sets those).");
            }
            if (value is null || value.Length > 32 * 1024 || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"env value of '{name}' must be a string of at most 32768 characters without NUL.");
            }
        }
        var requested = string.IsNullOrEmpty(request.ModelEndpoint) ? _options.Agents.ModelEndpoint : request.ModelEndpoint;
        var allowed = _options.Agents.Endpoints().FirstOrDefault(e => string.Equals(e.TrimEnd('/'), requested.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
        if (allowed is null)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"model_endpoint '{Shorten(requested)}' is not one this server allows (Sandbox:Agents:ModelEndpoint, Sandbox:Agents:AllowedModelEndpoints). Leave it out to use the server's.");
        }
        return (agent, timeout, new Uri(allowed));
    }

    private static bool ReservedEnv(string name) =>
        name is "HOME" or "PATH" or "USER" || name.StartsWith("ANTHROPIC_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("AGENT_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("CLAUDE_CODE_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("SANDBOX_", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvName();

    private async Task ExecuteAgentRunAsync(AgentRunState state, AgentLaunch launch, ModelProxyConfig config, TimeSpan timeout)
    {
        var session = state.Session;
        string? error = null;
        int? exitCode = null;
        var timedOut = false;
        var diff = (Changes: (IReadOnlyList<AgentFileChange>)[], Text: "", Truncated: false);
        var token = state.Cancellation.Token;
        try
        {
            await EnsureRunningAsync(session, token).ConfigureAwait(false);
            var snapshot = await AskRunnerAsync(session, new() { ["op"] = "snapshot" }, TimeSpan.FromMinutes(2), "workspace snapshot", token).ConfigureAwait(false);
            if (snapshot.Type != "snapshot")
            {
                throw new SandboxException(SandboxErrorCodes.Internal, "The workspace snapshot failed: " + Shorten(Str(snapshot.Body, "message")));
            }
            var proxyImage = string.IsNullOrWhiteSpace(_options.Agents.ProxyImage) ? _options.Images[session.Image] : _options.Agents.ProxyImage;
            ModelProxyHandle? proxy = null;
            try
            {
                using (var opening = CancellationTokenSource.CreateLinkedTokenSource(token))
                {
                    opening.CancelAfter(_options.CreateTimeout);
                    proxy = await _backend.OpenAgentNetworkAsync(session.Id, session.ContainerId, proxyImage, config,
                        _options.Agents.EgressNetwork, opening.Token).ConfigureAwait(false);
                }
                (exitCode, timedOut) = await RunAgentProcessAsync(state, launch, timeout).ConfigureAwait(false);
            }
            finally
            {
                if (proxy is not null)
                {
                    LogProxyRequests(_logger, state.Id, proxy.Requests);
                    await proxy.DisposeAsync().ConfigureAwait(false);
                }
                using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _backend.CloseAgentNetworkAsync(session.Id, session.ContainerId, cleanup.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is SandboxException or DockerApiException or OperationCanceledException)
                {
                    LogCleanupFailed(_logger, session.Id, "agent network: " + e.Message);
                }
            }
            if (session.Runner is { ClosedReason: null })
            {
                try
                {
                    var reply = await AskRunnerAsync(session, new() { ["op"] = "diff", ["max_chars"] = _options.Agents.MaxDiffChars },
                        TimeSpan.FromMinutes(2), "workspace diff", CancellationToken.None).ConfigureAwait(false);
                    diff = reply.Type == "diff"
                        ? (ParseChanges(reply.Body), Str(reply.Body, "diff") ?? "", Bool(reply.Body, "truncated"))
                        : ([], "(no diff: " + Shorten(Str(reply.Body, "message")) + ")", true);
                }
                catch (SandboxException e)
                {
                    diff = ([], "(no diff: " + e.Message + ")", true);
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
            LogAgentFailed(_logger, state.Id, e.GetType().Name + ": " + e.Message);
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
                    Status = status, Error = why, ExitCode = exitCode, EndedAt = _time.GetUtcNow(),
                    Changes = diff.Changes, Diff = diff.Text, DiffTruncated = diff.Truncated,
                };
            });
            await FinishAgentRunAsync(state, final).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the agent process through the runner, feeding its output into the run; kills it at the deadline
    /// or on cancellation. Returns its exit status and whether the deadline stopped it.</summary>
    private async Task<(int? ExitCode, bool TimedOut)> RunAgentProcessAsync(AgentRunState state, AgentLaunch launch, TimeSpan timeout)
    {
        var runner = state.Session.Live;
        var id = runner.NewId();
        using var subscription = runner.Subscribe(id);
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(state.Cancellation.Token, deadline.Token);
        await runner.SendAsync(new Dictionary<string, object>
        {
            ["op"] = "exec", ["id"] = id, ["language"] = "argv", ["argv"] = launch.Argv, ["env"] = launch.Env,
            ["max_output"] = _options.Agents.MaxTrajectoryChars,
        }, CancellationToken.None).ConfigureAwait(false);
        var pending = new StringBuilder();
        CancellationTokenSource? grace = null;
        try
        {
            while (true)
            {
                RunnerMessage message;
                try
                {
                    message = await subscription.Reader.ReadAsync((grace ?? waiting).Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (grace is null)
                {
                    grace = new CancellationTokenSource(_options.KillGrace, _time);
                    await runner.SendAsync(new Dictionary<string, object> { ["op"] = "cancel", ["id"] = id }, grace.Token).ConfigureAwait(false);
                    continue;
                }
                catch (OperationCanceledException)
                {
                    await KillHungSessionAsync(state.Session).ConfigureAwait(false);
                    return (null, deadline.IsCancellationRequested);
                }
                catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
                {
                    throw new SandboxException(lost.Code, lost.Message, e);
                }
                switch (message.Type)
                {
                    case "out" when Str(message.Body, "stream") == "stderr":
                        state.AddStderr(Str(message.Body, "data") ?? "");
                        break;
                    case "out":
                        pending.Append(Str(message.Body, "data") ?? "");
                        for (var nl = pending.IndexOf('\n'); nl >= 0; nl = pending.IndexOf('\n'))
                        {
                            state.AddLine(pending.ToString(0, nl));
                            pending.Remove(0, nl + 1);
                        }
                        if (pending.Length > _options.Agents.MaxTrajectoryChars)
                        {
                            pending.Clear();
                            state.MarkTruncated();
                        }
                        break;
                    case "error" when Str(message.Body, "code") == "command_not_found":
                        throw new SandboxException(SandboxErrorCodes.AgentUnavailable,
                            $"This session's image has no '{Shorten(launch.Argv[0])}' command for agent '{state.Agent.Name}'. Create the session with image 'agent' (create_session image=\"agent\") and run the agent there.");
                    case "error":
                        throw new SandboxException(Str(message.Body, "code") == "session_busy" ? SandboxErrorCodes.SessionBusy : SandboxErrorCodes.Internal,
                            "The sandbox refused the agent run: " + Shorten(Str(message.Body, "message")));
                    case "done":
                        if (pending.Length > 0)
                        {
                            state.AddLine(pending.ToString());
                        }
                        if (Bool(message.Body, "truncated"))
                        {
                            state.MarkTruncated();
                        }
                        return (Int(message.Body, "exit_code"), deadline.IsCancellationRequested);
                }
            }
        }
        finally
        {
            grace?.Dispose();
        }
    }

    /// <summary>Frees the session (so a caller that gets the result can use it at once), records the run, then tells
    /// the watchers and waiters.</summary>
    private async Task FinishAgentRunAsync(AgentRunState state, AgentRun final)
    {
        var session = state.Session;
        Unclaim(session, _agentSlots);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _store.SaveAgentRunAsync(final, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogCleanupFailed(_logger, session.Id, "saving agent run: " + e.Message);
        }
        _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "agent_run", _time.GetUtcNow(), final.Agent,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(final.Prompt))), final.Prompt.Length, final.ExitCode,
            final.Status == AgentRunStatus.Succeeded ? null : final.Status.ToString(), final.Status == AgentRunStatus.TimedOut, final.DurationMs,
            Head(final.FinalMessage ?? final.Error ?? "")));
        LogAgentFinished(_logger, final.Id, session.Id, final.Status, final.DurationMs, final.Trajectory.Count, final.Changes.Count);
        state.Publish(final);
        // Keep recent finished runs in memory (watchers may still attach); older ones are read from the store.
        _finishedRuns.Enqueue(final.Id);
        while (_finishedRuns.Count > _options.Agents.RecentRunsKept && _finishedRuns.TryDequeue(out var old))
        {
            if (_agentRuns.TryRemove(old, out var gone))
            {
                gone.Dispose();
            }
        }
    }

    private static List<AgentFileChange> ParseChanges(System.Text.Json.JsonElement body)
    {
        var list = new List<AgentFileChange>();
        if (!body.TryGetProperty("changes", out var changes) || changes.ValueKind != System.Text.Json.JsonValueKind.Array)
        {
            return list;
        }
        foreach (var c in changes.EnumerateArray())
        {
            if (Str(c, "path") is { } path && Str(c, "change") is { } change)
            {
                list.Add(new AgentFileChange(path, change, Bool(c, "binary"),
                    c.TryGetProperty("size", out var size) && size.TryGetInt64(out var n) ? n : 0));
            }
        }
        return list;
    }

    private static string LastLine(string text)
    {
        var line = text.TrimEnd().Split('\n').LastOrDefault()?.Trim();
        return string.IsNullOrEmpty(line) ? "" : " Last error output: " + Shorten(line);
    }

    /// <summary>Kills every running agent (their runs end as cancelled) and waits, bounded, for them to be recorded:
    /// an agent must not keep running in a container the server no longer watches.</summary>
    private async Task StopAgentRunsAsync(string why)
    {
        var running = _agentRuns.Values.Where(r => !r.Completion.IsCompleted).ToList();
        if (running.Count == 0)
        {
            return;
        }
        LogStoppingRuns(_logger, running.Count, why);
        foreach (var run in running)
        {
            run.CancelByCaller("The run was stopped because " + why);
        }
        try
        {
            await Task.WhenAll(running.Select(r => r.Completion)).WaitAsync(_options.KillGrace + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStoppingRunsTimedOut(_logger);
        }
    }

    /// <summary>After a restart: runs the previous process left unfinished are failed. (Their networks and proxies are
    /// removed, and their sessions put back on network none, by the orphan sweep that follows.)</summary>
    private async Task ReconcileAgentRunsAsync(CancellationToken ct)
    {
        var failed = await _store.FailInterruptedAgentRunsAsync("The server stopped during the run; its end was not recorded.", _time.GetUtcNow(), ct).ConfigureAwait(false);
        if (failed > 0)
        {
            LogInterruptedRuns(_logger, failed);
        }
    }

    /// <summary>Agent networks (and their proxies) whose session runs no agent: left by a crash or a removed session.</summary>
    private async Task<int> RemoveOrphanAgentNetworksAsync(CancellationToken ct)
    {
        var removed = 0;
        var now = _time.GetUtcNow();
        foreach (var network in await _backend.ListManagedNetworksAsync(ct).ConfigureAwait(false))
        {
            var labels = network.Labels ?? new Dictionary<string, string>();
            if (!labels.TryGetValue(SandboxLabels.SessionId, out var sid)
                || _agentRuns.Values.Any(r => r.Session.Id == sid && !r.Completion.IsCompleted))
            {
                continue;
            }
            var mine = labels.TryGetValue(SandboxLabels.Instance, out var instance) && instance == _options.InstanceId;
            var expired = labels.TryGetValue(SandboxLabels.CreatedAt, out var created)
                          && DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at)
                          && now - at > _options.Agents.MaxTimeout + TimeSpan.FromHours(1);
            if (!mine && !expired)
            {
                continue;
            }
            var containerId = _sessions.TryGetValue(sid, out var session) ? session.ContainerId : null;
            await _backend.CloseAgentNetworkAsync(sid, containerId, ct).ConfigureAwait(false);
            removed++;
        }
        return removed;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId} started in session {SessionId}: agent {Agent}, owner {Owner}")]
    private static partial void LogAgentStarted(ILogger logger, string runId, string sessionId, string agent, string owner);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId} in session {SessionId} ended {Status} after {DurationMs:F0} ms: {Events} events, {Changes} files changed")]
    private static partial void LogAgentFinished(ILogger logger, string runId, string sessionId, AgentRunStatus status, double durationMs, int events, int changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId}: the model proxy handled {Requests} requests")]
    private static partial void LogProxyRequests(ILogger logger, string runId, int requests);

    [LoggerMessage(Level = LogLevel.Error, Message = "Agent run {RunId} failed inside the server: {Error}")]
    private static partial void LogAgentFailed(ILogger logger, string runId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping {Count} agent runs: {Reason}")]
    private static partial void LogStoppingRuns(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent runs did not all stop in time")]
    private static partial void LogStoppingRunsTimedOut(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} agent runs were still running when the server stopped; marked failed")]
    private static partial void LogInterruptedRuns(ILogger logger, int count);
}
