using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Terminals;

/// <summary>
/// Interactive terminals: a shell on a pseudo-terminal in a session (as the sandbox user, in the workspace), held by the
/// session, not by a client. Clients attach and detach; the shell and what it runs go on meanwhile, until the shell
/// exits, the terminal is closed, its session ends, or nobody has been attached for <see cref="TerminalOptions.DetachedTimeout"/>.
/// Whoever attaches first gets the screen as it is (a replay of the latest output), then live output; several may
/// watch at once, one types (the first writer; the others are read-only until it detaches).
/// </summary>
public sealed partial class TerminalService(SessionRegistry registry, SessionJournal journal, TimeProvider time, IOptions<TerminalOptions> options,
    ILogger<TerminalService> logger) : IAsyncDisposable
{
    /// <summary>Terminals one session may have open at once.</summary>
    public const int MaxPerSession = 4;

    private readonly ConcurrentDictionary<string, HeldTerminal> _terminals = new(StringComparer.Ordinal);

    /// <summary>Opens a terminal of <paramref name="cols"/> × <paramref name="rows"/> characters in the caller's session;
    /// it runs until closed (attach to see and type).</summary>
    public Task<TerminalInfo> OpenAsync(string sessionId, string owner, int cols, int rows, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        return OpenAsync(session, null, cols, rows, ct);
    }

    /// <summary>Opens a terminal running <paramref name="program"/> (or a shell) in a session the caller has already
    /// looked up and checked.</summary>
    internal async Task<TerminalInfo> OpenAsync(Session session, TerminalProgram? program, int cols, int rows, CancellationToken ct)
    {
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var runner = session.Live;
        var id = "term-" + SandboxLauncher.NewId();
        // Subscribed before it starts, so not a byte of the shell's first prompt is lost.
        var output = runner.Subscribe(id);
        try
        {
            var request = new PtyOpenRequest(id, Math.Clamp(cols, 1, 1000), Math.Clamp(rows, 1, 1000), MaxPerSession)
            {
                Argv = program?.Argv, Env = program?.Env, Files = program?.HomeFiles,
            };
            var reply = await runner.AskAsync(request, TimeSpan.FromSeconds(15), "terminal", ct).ConfigureAwait(false);
            if (reply.Type == "error")
            {
                throw Str(reply.Body, "code") switch
                {
                    "limit_exceeded" => new SandboxException(SandboxErrorCodes.LimitExceeded, "The sandbox could not open a terminal: " + SafeText.Shorten(Str(reply.Body, "message"), 300)),
                    "command_not_found" => new SandboxException(SandboxErrorCodes.AgentUnavailable,
                        $"This session's image has no '{SafeText.Shorten(program?.Argv[0])}' command. Create the session with image 'agent' and start the agent there."),
                    _ => new SandboxException(SandboxErrorCodes.Internal, "The sandbox could not open a terminal: " + SafeText.Shorten(Str(reply.Body, "message"), 300)),
                };
            }
        }
        catch
        {
            output.Dispose();
            throw;
        }
        var terminal = new HeldTerminal(this, session, runner, id, output, time, options.Value, program);
        if (program is not null)
        {
            session.HoldProgram();
        }
        _terminals[id] = terminal;
        terminal.Start();
        journal.Record(session, "terminal", $"opened {id} ({program?.Kind ?? TerminalInfo.Shell})");
        LogOpened(logger, session.Id, id);
        session.Touch(time.GetUtcNow());
        return terminal.Info;
    }

    /// <summary>The caller's session's terminals.</summary>
    public IReadOnlyList<TerminalInfo> List(string sessionId, string owner)
    {
        var session = registry.Get(sessionId, owner);
        return [.. _terminals.Values.Where(t => t.Session == session).OrderBy(t => t.StartedAt).Select(t => t.Info)];
    }

    /// <summary>Attaches to a terminal of the caller's session: the replay, then live output until it ends or the
    /// attachment is disposed (which detaches; the terminal goes on).</summary>
    public TerminalAttachment Attach(string sessionId, string owner, string terminalId, TerminalMode mode)
    {
        var terminal = Find(sessionId, owner, terminalId);
        terminal.Session.Touch(time.GetUtcNow());
        return terminal.Attach(mode);
    }

    /// <summary>Closes a terminal: its shell and what it started are killed; attached clients see it end.</summary>
    public Task CloseAsync(string sessionId, string owner, string terminalId, CancellationToken ct) =>
        Find(sessionId, owner, terminalId).CloseAsync(ct);

    private HeldTerminal Find(string sessionId, string owner, string terminalId)
    {
        var session = registry.Get(sessionId, owner);
        return _terminals.TryGetValue(terminalId, out var t) && t.Session == session
            ? t
            : throw new SandboxException(SandboxErrorCodes.TerminalNotFound, $"Session {session.Id} has no terminal '{SafeText.Shorten(terminalId, 60)}' (it may have ended).");
    }

    /// <summary>Closes every terminal (the server stops: a later server could not reach them, and they would hold
    /// their sessions' terminal slots).</summary>
    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        foreach (var terminal in _terminals.Values.ToList())
        {
            try
            {
                await terminal.CloseAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException or SandboxException or IOException)
            {
                // Its session is going too: the terminal goes with it.
            }
        }
    }

    internal void Ended(HeldTerminal terminal, string why)
    {
        var removed = _terminals.TryRemove(new KeyValuePair<string, HeldTerminal>(terminal.Id, terminal));
        LogEnded(logger, terminal.Session.Id, terminal.Id, terminal.ExitCode, why);
        if (terminal.Program is { } program && removed)
        {
            terminal.Session.ReleaseProgram(time.GetUtcNow());
            _ = Task.Run(async () =>
            {
                try
                {
                    await program.Ended().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // Runs detached from any request: logged, never thrown (the orphan sweep removes what is left).
                    LogEndFailed(logger, terminal.Session.Id, terminal.Id, e.Message);
                }
            }, CancellationToken.None);
        }
    }

    /// <summary>Whether a session has a terminal running this kind of program now.</summary>
    internal bool Runs(Session session, Func<string, bool> kind) =>
        _terminals.Values.Any(t => t.Session == session && t.Program is { } p && kind(p.Kind));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: undoing what terminal {TerminalId} needed failed: {Error}")]
    private static partial void LogEndFailed(ILogger logger, string sessionId, string terminalId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: terminal {TerminalId} opened")]
    private static partial void LogOpened(ILogger logger, string sessionId, string terminalId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: terminal {TerminalId} ended (exit status {ExitCode}): {Why}")]
    private static partial void LogEnded(ILogger logger, string sessionId, string terminalId, int? exitCode, string why);
}
