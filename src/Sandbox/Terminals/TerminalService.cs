using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Terminals;

/// <summary>
/// Interactive terminals: a shell on a pseudo-terminal in a session (as the sandbox user, in the workspace), for a
/// person at the dashboard. Output streams as raw bytes; input, resizes and Ctrl-C (a byte like any other) go back.
/// A terminal lives beside executions (their time-outs do not kill it) and ends with its shell, its session, or when
/// its caller disposes it.
/// </summary>
public sealed partial class TerminalService(SessionRegistry registry, SessionJournal journal, TimeProvider time,
    ILogger<TerminalService> logger)
{
    /// <summary>Terminals one session may have open at once.</summary>
    public const int MaxPerSession = 4;


    /// <summary>Opens a terminal of <paramref name="cols"/> × <paramref name="rows"/> characters in the caller's session.</summary>
    public async Task<Terminal> OpenAsync(string sessionId, string owner, int cols, int rows, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var runner = session.Live;
        var id = "term-" + SandboxLauncher.NewId();
        // Subscribed before it starts, so not a byte of the shell's first prompt is lost.
        var output = runner.Subscribe(id);
        try
        {
            var reply = await runner.AskAsync(new PtyOpenRequest(id, Math.Clamp(cols, 1, 1000), Math.Clamp(rows, 1, 1000), MaxPerSession), TimeSpan.FromSeconds(15), "terminal", ct).ConfigureAwait(false);
            if (reply.Type == "error")
            {
                throw new SandboxException(Str(reply.Body, "code") == "limit_exceeded" ? SandboxErrorCodes.LimitExceeded : SandboxErrorCodes.Internal,
                    "The sandbox could not open a terminal: " + SafeText.Shorten(Str(reply.Body, "message"), 300));
            }
        }
        catch
        {
            output.Dispose();
            throw;
        }
        journal.Record(session, "terminal", "opened " + id);
        LogOpened(logger, session.Id, id);
        session.Touch(time.GetUtcNow());
        return new Terminal(session, runner, id, output, time);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: terminal {TerminalId} opened")]
    private static partial void LogOpened(ILogger logger, string sessionId, string terminalId);
}

/// <summary>One open terminal. Read its output with <see cref="ReadAsync"/> (until the shell ends); dispose it to close it.</summary>
public sealed class Terminal : IAsyncDisposable
{
    private readonly Session _session;
    private readonly RunnerConnection _runner;
    private readonly RunnerConnection.Subscription _output;
    private readonly TimeProvider _time;
    private int _disposed;

    internal Terminal(Session session, RunnerConnection runner, string id, RunnerConnection.Subscription output, TimeProvider time)
    {
        _session = session;
        _runner = runner;
        Id = id;
        _output = output;
        _time = time;
    }

    /// <summary>The terminal's id.</summary>
    public string Id { get; }

    /// <summary>The shell's exit status once it ended; null while it runs (or when the session ended first).</summary>
    public int? ExitCode { get; private set; }

    /// <summary>The terminal's output as it comes, until its shell ends. Ends with <c>session_lost</c> when the session does.</summary>
    public async IAsyncEnumerable<byte[]> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            RunnerMessage message;
            try
            {
                message = await _output.Reader.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
            {
                throw new SandboxException(lost.Code, lost.Message, e);
            }
            catch (ChannelClosedException)
            {
                yield break;
            }
            if (message.Type == "pty_out" && Str(message.Body, "data") is { } data)
            {
                yield return Convert.FromBase64String(data);
            }
            else if (message.Type == "pty_exit")
            {
                ExitCode = Int(message.Body, "exit_code");
                yield break;
            }
        }
    }

    /// <summary>Types <paramref name="text"/> (keys, a paste, control characters such as Ctrl-C's <c>\u0003</c>).</summary>
    public async Task WriteAsync(string text, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return;
        }
        if (text.Length > 1 << 20)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "At most 1 MiB of input at once.");
        }
        _session.Touch(_time.GetUtcNow());
        await _runner.SendAsync(new PtyInputRequest(Id, text) { Id = Id }, ct).ConfigureAwait(false);
    }

    /// <summary>Resizes the terminal (its programs hear it as SIGWINCH).</summary>
    public Task ResizeAsync(int cols, int rows, CancellationToken ct) =>
        _runner.SendAsync(new PtyResizeRequest(Id, Math.Clamp(cols, 1, 1000), Math.Clamp(rows, 1, 1000)) { Id = Id }, ct);

    /// <summary>Closes the terminal: its shell and what it started are killed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            if (ExitCode is null && _runner.ClosedReason is null)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _runner.SendAsync(new PtyCloseRequest(Id) { Id = Id }, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException or IOException)
        {
            // The session is gone or going: its terminal goes with it.
        }
        finally
        {
            _output.Dispose();
        }
    }
}
