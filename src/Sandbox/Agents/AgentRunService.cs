using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Agents;

/// <summary>
/// Coding agents in a session's workspace: start, follow, wait for, list and cancel runs. One run or execution at a
/// time per session. The run itself (network, proxy, process, diff) is <see cref="AgentRunExecutor"/>'s.
/// </summary>
public sealed partial class AgentRunService(SessionRegistry registry, AgentRunTracker runs, AgentRunExecutor executor, AgentRequestValidator validator,
    AgentSetup setup, Backend.ISandboxBackend backend, AgentModelAccess access, IAgentNetwork network, SessionJournal journal, Terminals.TerminalService terminals, IOptions<AgentOptions> options,
    TimeProvider time, ILogger<AgentRunService> logger) : ISessionCloseListener
{

    private readonly ConcurrentDictionary<string, IAgentRunner> _agents = new(StringComparer.Ordinal)
    {
        [ClaudeCodeAgent.AgentName] = new ClaudeCodeAgent(),
        [CodexAgent.AgentName] = new CodexAgent(),
        [CommandAgent.AgentName] = new CommandAgent(),
    };
    private readonly AgentRunTracker _runs = runs;
    private readonly IAgentNetwork _network = network;
    private readonly AgentOptions _options = options.Value;
    private readonly ILogger<AgentRunService> _logger = logger;

    /// <summary>The agents callers can name, by name.</summary>
    internal IReadOnlyDictionary<string, IAgentRunner> Agents => _agents;

    /// <summary>Adds (or replaces) an agent callers can name in <see cref="AgentRunRequest.Agent"/>.</summary>
    public void RegisterAgent(IAgentRunner agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        _agents[agent.Name] = agent;
    }

    /// <summary>Starts an agent and returns at once with the running run; follow it with <see cref="WatchAsync"/> or
    /// <see cref="GetAsync"/>.</summary>
    public async Task<AgentRun> StartAsync(string sessionId, string owner, AgentRunRequest request, CancellationToken ct) =>
        (await BeginAsync(sessionId, owner, request, watch: false, ct).ConfigureAwait(false)).State.Snapshot();

    /// <summary>Runs an agent and returns the finished run. Cancelling <paramref name="ct"/> kills the agent.</summary>
    public async Task<AgentRun> RunAsync(string sessionId, string owner, AgentRunRequest request, CancellationToken ct)
    {
        AgentRun? final = null;
        await foreach (var e in RunStreamingAsync(sessionId, owner, request, ct).ConfigureAwait(false))
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
    public async IAsyncEnumerable<AgentRunEvent> RunStreamingAsync(string sessionId, string owner, AgentRunRequest request,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var (state, watcher) = await BeginAsync(sessionId, owner, request, watch: true, ct).ConfigureAwait(false);
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
    public async IAsyncEnumerable<AgentRunEvent> WatchAsync(string sessionId, string owner, string runId,
        [EnumeratorCancellation] CancellationToken ct)
    {
        if (_runs.Find(sessionId, owner, runId) is { } state)
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
        yield return new AgentCompletedEvent(await GetAsync(sessionId, owner, runId, ct).ConfigureAwait(false));
    }

    /// <summary>A run with its trajectory and diff: live while it runs, from the store after.</summary>
    public async Task<AgentRun> GetAsync(string sessionId, string owner, string runId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (_runs.Find(sessionId, owner, runId) is { } state)
        {
            return state.Snapshot();
        }
        return await journal.Store.GetAgentRunAsync(sessionId, owner, runId ?? "", ct).ConfigureAwait(false)
               ?? throw new SandboxException(SandboxErrorCodes.RunNotFound,
                   $"No agent run '{SafeText.Shorten(runId)}' in session '{SafeText.Shorten(sessionId)}'. List the session's runs with list_agent_runs.");
    }

    /// <summary>The session a run of the caller's ran in, by the run's id alone (an agent job's id is its run's).</summary>
    public async Task<string> SessionOfRunAsync(string owner, string runId, CancellationToken ct) =>
        _runs.SessionOf(owner, runId ?? "")
        ?? await journal.Store.FindAgentRunSessionAsync(owner, runId ?? "", ct).ConfigureAwait(false)
        ?? throw new SandboxException(SandboxErrorCodes.RunNotFound, $"No agent job or run '{SafeText.Shorten(runId)}' of yours.");

    /// <summary>A session's runs, newest first, without trajectories and diffs.</summary>
    public async Task<IReadOnlyList<AgentRun>> ListAsync(string sessionId, string owner, CancellationToken ct)
    {
        var stored = await journal.Store.ListAgentRunsAsync(sessionId, owner, 100, ct).ConfigureAwait(false);
        if (stored.Count == 0 && !registry.Contains(sessionId))
        {
            registry.Get(sessionId, owner); // unknown session: say so rather than return an empty list
        }
        var live = _runs.OfSession(sessionId, owner).Select(s => AgentRunStore.Summary(s.Snapshot())).ToDictionary(r => r.Id, StringComparer.Ordinal);
        return stored.Select(r => live.GetValueOrDefault(r.Id, r)).Concat(live.Values.Where(r => stored.All(s => s.Id != r.Id)))
            .OrderByDescending(r => r.StartedAt).ToList();
    }

    /// <summary>Cancels a running run (the agent is killed) and returns it once it has ended.</summary>
    public async Task<AgentRun> CancelAsync(string sessionId, string owner, string runId, CancellationToken ct)
    {
        if (_runs.Find(sessionId, owner, runId) is { } state)
        {
            state.CancelByCaller();
            return await state.Completion.WaitAsync(ct).ConfigureAwait(false);
        }
        return await GetAsync(sessionId, owner, runId, ct).ConfigureAwait(false);
    }

    /// <summary>Kills every running agent and waits, bounded, for their runs to be recorded (at shutdown).</summary>
    public Task StopAllAsync(string why) => _runs.StopAllAsync(why);

    /// <summary>After a restart: runs the previous process left unfinished are failed. (Their networks and proxies are
    /// removed, and their sessions put back on no network, by the orphan sweep that follows.)</summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        var failed = await journal.Store.FailInterruptedAgentRunsAsync(
            "The server stopped during the run; its end was not recorded. Continue its conversation with continue_agent (its files are as the agent left them).",
            time.GetUtcNow(), ct).ConfigureAwait(false);
        if (failed > 0)
        {
            LogInterruptedRuns(_logger, failed);
        }
    }

    void ISessionCloseListener.OnClosing(Session session, string reason) => _runs.CancelIn(session, reason);

    /// <summary>A proxy and network left by a run of a closed session (a run in progress removes its own as it ends).</summary>
    Task ISessionCloseListener.OnClosedAsync(Session session, CancellationToken ct) => _network.CloseAsync(session.Id, null, ct);

    private async Task<(AgentRunState State, ChannelReader<AgentRunEvent> Watcher)> BeginAsync(string sessionId, string owner, AgentRunRequest request,
        bool watch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        AgentRun? previous = null;
        if (request.Continue is { } continued)
        {
            previous = await ContinuedAsync(session, owner, continued, ct).ConfigureAwait(false);
            request = request with
            {
                Agent = previous.Agent, Model = request.Model ?? previous.Model,
                ModelEndpoint = request.ModelEndpoint ?? previous.ModelEndpoint, Branch = previous.Git?.Branch,
                GitPolicy = request.GitPolicy ?? previous.GitPolicy,
            };
        }
        var (agent, timeout, endpoint) = validator.Validate(request, _agents);
        if (request.MaxTurns is null && agent.TakesMaxTurns)
        {
            request = request with { MaxTurns = _options.DefaultMaxTurns };
        }
        setup.Check(session, agent, request);
        if (terminals.Runs(session, _agents.ContainsKey))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy,
                $"Session {session.Id} has an interactive agent in a terminal (it holds the session's model proxy); close that terminal first, or use another session.");
        }
        var gitPolicy = request.GitPolicy ?? _options.GitPolicy;
        var launch = agent.Build(request, access.Context(previous?.Conversation, gitPolicy));
        registry.Claim(session, SessionWork.AgentRun,
            $"Session {session.Id} is running another execution or agent run. Wait for it to finish, or use another session.");
        IReadOnlyList<AgentSkill> skills;
        try
        {
            await setup.WritePolicyFilesAsync(session, agent, gitPolicy, ct).ConfigureAwait(false);
            skills = await setup.PrepareAsync(session, agent, request, ct).ConfigureAwait(false);
        }
        catch
        {
            registry.Release(session, SessionWork.AgentRun);
            throw;
        }
        var apiKey = access.ApiKey(agent, request);
        var secrets = request.Env.Values.Append(apiKey ?? "").ToList();
        var run = new AgentRun
        {
            Id = "run_" + SandboxLauncher.NewId(), SessionId = session.Id, Owner = owner, Agent = agent.Name, Model = request.Model,
            Prompt = request.Prompt, ModelEndpoint = endpoint.GetLeftPart(UriPartial.Path), Status = AgentRunStatus.Running,
            StartedAt = time.GetUtcNow(), ContinuesRunId = previous?.Id, Conversation = previous?.Conversation, GitPolicy = gitPolicy,
            Skills = skills, McpServers = (request.McpServers?.Keys ?? []).Order(StringComparer.Ordinal).ToList(),
        };
        var state = new AgentRunState(run, session, agent, secrets, _options.MaxTrajectoryChars)
        {
            Branch = request.Branch, ContinuesGit = previous?.Git, ConversationNamed = executor.SaveRunningAsync,
        };
        await executor.SaveRunningAsync(run).ConfigureAwait(false);
        var watcher = watch ? state.Watch() : Channel.CreateUnbounded<AgentRunEvent>().Reader;
        _runs.Add(state);
        LogAgentStarted(_logger, run.Id, session.Id, agent.Name, owner);
        var config = access.Config(agent, endpoint, apiKey);
        _ = Task.Run(() => executor.ExecuteAsync(state, launch, config, timeout), CancellationToken.None);
        return (state, watcher);
    }

    /// <summary>The earlier run a continuation names: finished, of this session and caller, with a conversation its
    /// agent can resume.</summary>
    private async Task<AgentRun> ContinuedAsync(Session session, string owner, string runId, CancellationToken ct)
    {
        AgentRun? previous;
        if (runId == AgentRunRequest.LatestRun)
        {
            previous = (await ListAsync(session.Id, owner, ct).ConfigureAwait(false)).FirstOrDefault(r => r.Conversation is not null || r.Status == AgentRunStatus.Running)
                       ?? throw new SandboxException(SandboxErrorCodes.RunNotFound,
                           $"Session {session.Id} has no agent run with a conversation to continue. Start one with run_agent; in a fork or a restarted session, name the original session's run (run_id).");
        }
        else
        {
            try
            {
                previous = await GetAsync(session.Id, owner, runId, ct).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCodes.RunNotFound)
            {
                // A run of another session of the caller's: this one may be its fork or restart, whose workspace (and the
                // agent's home in it) came from there. The conversation must be in this session's home to go on.
                var origin = await SessionOfRunAsync(owner, runId, ct).ConfigureAwait(false);
                previous = await GetAsync(origin, owner, runId, ct).ConfigureAwait(false);
                if (previous.Conversation is { } c && _agents.TryGetValue(previous.Agent, out var earlier) && earlier.ConversationFile(c) is { } file
                    && await backend.StatAsync(session.ContainerId, AgentModelAccess.AgentHome + "/" + file, ct).ConfigureAwait(false) is null)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                        $"Run {previous.Id} is of session {origin}, and its conversation is not in this session (only a fork, snapshot or restart of that session has it).");
                }
            }
        }
        if (previous.Status == AgentRunStatus.Running)
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy,
                $"Agent run {previous.Id} is still running; continue it once it has ended (wait for it with get_agent_run, or cancel it).");
        }
        if (!_agents.TryGetValue(previous.Agent, out var agent) || !agent.CanResume)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Agent '{SafeText.Shorten(previous.Agent)}' of run {previous.Id} cannot resume a conversation; start a new run instead.");
        }
        return previous.Conversation is null
            ? throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Run {previous.Id} ended before its agent started a conversation (it said no session or thread id), so there is none to continue; start a new run.")
            : previous;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent run {RunId} started in session {SessionId}: agent {Agent}, owner {Owner}")]
    private static partial void LogAgentStarted(ILogger logger, string runId, string sessionId, string agent, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} agent runs were still running when the server stopped; marked failed")]
    private static partial void LogInterruptedRuns(ILogger logger, int count);
}
