using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Terminals;

/// <summary>How a client attaches to a terminal.</summary>
public enum TerminalMode
{
    /// <summary>Types into it when nobody else does (the first writer keeps the keyboard; later ones watch).</summary>
    Write,
    /// <summary>Watches only.</summary>
    Read,
}

/// <summary>A terminal as listed.</summary>
/// <param name="Id">Its id.</param>
/// <param name="StartedAt">When it opened.</param>
/// <param name="Viewers">Clients attached now.</param>
/// <param name="HasWriter">Whether one of them holds the keyboard.</param>
/// <param name="Running">False once its shell ended (it is listed no more soon after).</param>
/// <param name="ExitCode">The shell's exit status once it ended.</param>
public sealed record TerminalInfo(string Id, DateTimeOffset StartedAt, int Viewers, bool HasWriter, bool Running, int? ExitCode);

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
    public async Task<TerminalInfo> OpenAsync(string sessionId, string owner, int cols, int rows, CancellationToken ct)
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
        var terminal = new HeldTerminal(this, session, runner, id, output, time, options.Value);
        _terminals[id] = terminal;
        terminal.Start();
        journal.Record(session, "terminal", "opened " + id);
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
        _terminals.TryRemove(new KeyValuePair<string, HeldTerminal>(terminal.Id, terminal));
        LogEnded(logger, terminal.Session.Id, terminal.Id, terminal.ExitCode, why);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: terminal {TerminalId} opened")]
    private static partial void LogOpened(ILogger logger, string sessionId, string terminalId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: terminal {TerminalId} ended (exit status {ExitCode}): {Why}")]
    private static partial void LogEnded(ILogger logger, string sessionId, string terminalId, int? exitCode, string why);
}

/// <summary>One terminal a session holds: it reads the shell's output all the time (keeping the latest for replays)
/// and hands it to whoever is attached.</summary>
internal sealed class HeldTerminal(TerminalService owner, Session session, RunnerConnection runner, string id,
    RunnerConnection.Subscription output, TimeProvider time, TerminalOptions options)
{
    private readonly Lock _sync = new();
    private readonly byte[] _ring = new byte[options.ReplayBytes];
    private readonly List<TerminalAttachment> _viewers = [];
    private readonly CancellationTokenSource _stop = new();
    private int _ringStart;
    private int _ringLength;
    private TerminalAttachment? _writer;
    private DateTimeOffset _detachedSince = time.GetUtcNow();
    private bool _ended;
    private SandboxException? _lost;
    private Task _pump = Task.CompletedTask;

    public string Id { get; } = id;

    public Session Session { get; } = session;

    public RunnerConnection Runner { get; } = runner;

    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    public int? ExitCode { get; private set; }

    public TimeProvider Time { get; } = time;

    public TerminalInfo Info
    {
        get
        {
            lock (_sync)
            {
                return new TerminalInfo(Id, StartedAt, _viewers.Count, _writer is not null, !_ended, ExitCode);
            }
        }
    }

    public void Start() => _pump = Task.Run(PumpAsync, CancellationToken.None);

    public TerminalAttachment Attach(TerminalMode mode)
    {
        lock (_sync)
        {
            if (_ended)
            {
                throw new SandboxException(SandboxErrorCodes.TerminalNotFound, $"Terminal {Id} has ended.");
            }
            var viewer = new TerminalAttachment(this);
            if (_ringLength > 0)
            {
                var replay = new byte[_ringLength];
                var first = Math.Min(_ringLength, _ring.Length - _ringStart);
                Array.Copy(_ring, _ringStart, replay, 0, first);
                Array.Copy(_ring, 0, replay, first, _ringLength - first);
                viewer.Offer(replay);
            }
            _viewers.Add(viewer);
            if (mode == TerminalMode.Write && _writer is null)
            {
                _writer = viewer;
            }
            return viewer;
        }
    }

    public bool IsWriter(TerminalAttachment viewer)
    {
        lock (_sync)
        {
            return _writer == viewer;
        }
    }

    public void Detach(TerminalAttachment viewer)
    {
        lock (_sync)
        {
            if (_viewers.Remove(viewer) && _viewers.Count == 0)
            {
                _detachedSince = Time.GetUtcNow();
            }
            if (_writer == viewer)
            {
                _writer = null;
            }
        }
        viewer.Complete(null);
    }

    public async Task CloseAsync(CancellationToken ct)
    {
        if (ExitCode is null && Runner.ClosedReason is null)
        {
            try
            {
                await Runner.SendAsync(new PtyCloseRequest(Id) { Id = Id }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or IOException)
            {
                // The session is gone or going: its terminal goes with it.
            }
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _pump.WaitAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
    }

    private async Task PumpAsync()
    {
        var why = "its shell exited";
        try
        {
            using var check = new PeriodicTimer(TimeSpan.FromMinutes(1), Time);
            var tick = check.WaitForNextTickAsync(_stop.Token).AsTask();
            Task<bool>? more = null;
            while (true)
            {
                // One wait for output at a time (the channel has one reader), across the idle checks.
                more ??= output.Reader.WaitToReadAsync(_stop.Token).AsTask();
                if (await Task.WhenAny(more, tick).ConfigureAwait(false) == tick)
                {
                    await tick.ConfigureAwait(false);
                    if (Idle())
                    {
                        why = $"nobody was attached for {options.DetachedTimeout}";
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        await Runner.SendAsync(new PtyCloseRequest(Id) { Id = Id }, cts.Token).ConfigureAwait(false);
                        return;
                    }
                    tick = check.WaitForNextTickAsync(_stop.Token).AsTask();
                    continue;
                }
                var open = await more.ConfigureAwait(false);
                more = null;
                if (!open)
                {
                    why = "its session ended";
                    return;
                }
                while (output.Reader.TryRead(out var message))
                {
                    if (message.Type == "pty_out" && Str(message.Body, "data") is { } data)
                    {
                        Publish(Convert.FromBase64String(data));
                    }
                    else if (message.Type == "pty_exit")
                    {
                        ExitCode = Int(message.Body, "exit_code");
                        return;
                    }
                }
            }
        }
        catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
        {
            _lost = new SandboxException(lost.Code, lost.Message, e);
            why = "its session ended";
        }
        catch (ChannelClosedException)
        {
            why = "its session ended";
        }
        catch (SandboxException e)
        {
            // The runner's stream ended with the session (waiting for output rethrows why).
            _lost = e;
            why = "its session ended: " + e.Message;
        }
        catch (OperationCanceledException)
        {
            why = "it was closed";
        }
        catch (IOException e)
        {
            why = "its session's stream failed: " + e.Message;
        }
        finally
        {
            List<TerminalAttachment> viewers;
            lock (_sync)
            {
                _ended = true;
                viewers = [.. _viewers];
                _viewers.Clear();
                _writer = null;
            }
            foreach (var v in viewers)
            {
                v.Complete(_lost);
            }
            output.Dispose();
            owner.Ended(this, why);
        }
    }

    private bool Idle()
    {
        lock (_sync)
        {
            return _viewers.Count == 0 && Time.GetUtcNow() - _detachedSince >= options.DetachedTimeout;
        }
    }

    private void Publish(byte[] chunk)
    {
        lock (_sync)
        {
            // The ring keeps the latest output; when one chunk is larger than the ring, only its end is kept.
            var data = chunk.AsSpan(Math.Max(0, chunk.Length - _ring.Length));
            foreach (var b in data)
            {
                _ring[(_ringStart + _ringLength) % _ring.Length] = b;
                if (_ringLength < _ring.Length)
                {
                    _ringLength++;
                }
                else
                {
                    _ringStart = (_ringStart + 1) % _ring.Length;
                }
            }
            foreach (var v in _viewers.ToList())
            {
                if (!v.Offer(chunk))
                {
                    // A client that does not keep up is let go (it may attach again and get the screen); the
                    // terminal never waits for one.
                    _viewers.Remove(v);
                    if (_writer == v)
                    {
                        _writer = null;
                    }
                    v.Complete(new SandboxException(SandboxErrorCodes.LimitExceeded, "This client fell too far behind the terminal's output and was detached; attach again."));
                }
            }
        }
    }
}

/// <summary>One client attached to a terminal. Read its output with <see cref="ReadAsync"/>; dispose it to detach
/// (the terminal goes on).</summary>
public sealed class TerminalAttachment : IAsyncDisposable
{
    /// <summary>The keys that detach a client that types them (Ctrl-P Ctrl-Q, as <c>docker attach</c>).</summary>
    public const string DetachKeys = "\u0010\u0011";

    private readonly HeldTerminal _terminal;
    private readonly Channel<byte[]> _output = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(4096) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private int _detached;

    internal TerminalAttachment(HeldTerminal terminal) => _terminal = terminal;

    /// <summary>The terminal's id.</summary>
    public string Id => _terminal.Id;

    /// <summary>Whether this client holds the keyboard (others watch).</summary>
    public bool IsWriter => _terminal.IsWriter(this);

    /// <summary>The shell's exit status once it ended; null while it runs (or when the session ended first).</summary>
    public int? ExitCode => _terminal.ExitCode;

    internal bool Offer(byte[] chunk) => _output.Writer.TryWrite(chunk);

    internal void Complete(SandboxException? error) => _output.Writer.TryComplete(error);

    /// <summary>The screen as it is when attached, then live output, until the terminal ends or this client detaches.
    /// Ends with <c>session_lost</c> when the session does.</summary>
    public async IAsyncEnumerable<byte[]> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            byte[] chunk;
            try
            {
                chunk = await _output.Reader.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
            {
                throw new SandboxException(lost.Code, lost.Message, e);
            }
            catch (ChannelClosedException)
            {
                yield break;
            }
            yield return chunk;
        }
    }

    /// <summary>Types <paramref name="text"/> (keys, a paste, control characters such as Ctrl-C's <c>\u0003</c>).
    /// Returns false when the text holds <see cref="DetachKeys"/>: what came before them is typed, and the caller should
    /// detach. A watching (read-only) client cannot type.</summary>
    public async Task<bool> WriteAsync(string text, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 1 << 20)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "At most 1 MiB of input at once.");
        }
        var detach = text.IndexOf(DetachKeys, StringComparison.Ordinal);
        var typed = detach < 0 ? text : text[..detach];
        if (typed.Length > 0)
        {
            EnsureWriter();
            _terminal.Session.Touch(_terminal.Time.GetUtcNow());
            await _terminal.Runner.SendAsync(new PtyInputRequest(Id, typed) { Id = Id }, ct).ConfigureAwait(false);
        }
        return detach < 0;
    }

    /// <summary>Resizes the terminal (its programs hear it as SIGWINCH); the writer's size rules.</summary>
    public Task ResizeAsync(int cols, int rows, CancellationToken ct)
    {
        EnsureWriter();
        return _terminal.Runner.SendAsync(new PtyResizeRequest(Id, Math.Clamp(cols, 1, 1000), Math.Clamp(rows, 1, 1000)) { Id = Id }, ct);
    }

    private void EnsureWriter()
    {
        if (!IsWriter)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, $"Another client types into terminal {Id}; this one watches (read-only).");
        }
    }

    /// <summary>Detaches: the terminal and its shell go on.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _detached, 1) == 0)
        {
            _terminal.Detach(this);
        }
        return ValueTask.CompletedTask;
    }
}
