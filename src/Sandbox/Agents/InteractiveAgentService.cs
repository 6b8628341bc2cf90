using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Sessions;
using Sandbox.Terminals;

namespace Sandbox.Agents;

/// <summary>
/// Agents you talk to: an agent's own interactive interface (Claude Code's) in a terminal the session holds. People
/// attach to it, type, detach and come back (<see cref="TerminalService"/>); it keeps working meanwhile, until it
/// exits, is closed, its session ends, or <see cref="AgentOptions.InteractiveTimeout"/> (or the caller's shorter limit)
/// passes. It talks to its model through the same proxy and private network as a headless run, so the key never
/// enters the sandbox; that network lives as long as the terminal. One agent at a time per session, interactive or not
/// (they would share the one model proxy); executions, shells and file calls go on beside it.
/// </summary>
public sealed partial class InteractiveAgentService(SessionRegistry registry, TerminalService terminals, AgentRunService agents, AgentRunTracker runs,
    AgentRequestValidator validator, AgentSetup setup, AgentModelAccess access, IOptions<AgentOptions> options, ILogger<InteractiveAgentService> logger)
{
    private readonly ConcurrentDictionary<string, byte> _starting = new(StringComparer.Ordinal);

    /// <summary>Starts the agent's interface in a new terminal of <paramref name="cols"/> × <paramref name="rows"/>
    /// characters; attach to it with <see cref="TerminalService.Attach"/>. <see cref="AgentRunRequest.Prompt"/> (may be
    /// empty) is its first message; <see cref="AgentRunRequest.Timeout"/> bounds its life.</summary>
    public async Task<TerminalInfo> StartAsync(string sessionId, string owner, AgentRunRequest request, int cols, int rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var (agent, timeout, endpoint) = validator.Validate(request, agents.Agents, interactive: true);
        var gitPolicy = request.GitPolicy ?? options.Value.GitPolicy;
        var launch = agent.BuildInteractive(request, access.Context(null, gitPolicy));
        if (!_starting.TryAdd(session.Id, 0))
        {
            throw Busy(session, "is starting an interactive agent already");
        }
        IModelProxy? proxy = null;
        var opened = false;
        try
        {
            if (runs.IsRunningIn(session.Id))
            {
                throw Busy(session, "is running an agent; wait for its run to end (or cancel it)");
            }
            if (HoldsAgent(session))
            {
                throw Busy(session, "has an interactive agent already; attach to its terminal, or close it first");
            }
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            await setup.WritePolicyFilesAsync(session, agent, gitPolicy, ct).ConfigureAwait(false);
            proxy = await access.OpenAsync(session, access.Config(agent, endpoint, access.ApiKey(agent, request)), ct).ConfigureAwait(false);
            var held = proxy;
            var program = new TerminalProgram(agent.Name, launch.Argv, launch.Env, launch.HomeFiles ?? new Dictionary<string, string>(), timeout,
                () => access.CloseAsync(session, held));
            var info = await terminals.OpenAsync(session, program, cols, rows, ct).ConfigureAwait(false);
            opened = true;
            LogStarted(logger, session.Id, info.Id, agent.Name, owner);
            return info;
        }
        finally
        {
            if (!opened && proxy is not null)
            {
                await access.CloseAsync(session, proxy).ConfigureAwait(false);
            }
            _starting.TryRemove(session.Id, out _);
        }
    }

    /// <summary>Whether the session has an interactive agent's terminal now (a headless run must wait for it).</summary>
    internal bool HoldsAgent(Session session) => terminals.Runs(session, agents.Agents.ContainsKey);

    private static SandboxException Busy(Session session, string what) =>
        new(SandboxErrorCodes.SessionBusy, $"Session {session.Id} {what}.");

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: interactive agent {Agent} started in terminal {TerminalId} for {Owner}")]
    private static partial void LogStarted(ILogger logger, string sessionId, string terminalId, string agent, string owner);
}
