using System.Threading.Channels;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Terminals;

/// <summary>One terminal a session holds: it reads the shell's output all the time (keeping the latest for replays)
/// and hands it to whoever is attached.</summary>
internal sealed class HeldTerminal(TerminalService owner, Session session, RunnerConnection runner, string id,
    RunnerConnection.Subscription output, TimeProvider time, TerminalOptions options, TerminalProgram? program = null)
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

    /// <summary>What runs in it: a shell, or an agent's own program.</summary>
    public TerminalProgram? Program { get; } = program;

    public TerminalInfo Info
    {
        get
        {
            lock (_sync)
            {
                return new TerminalInfo(Id, StartedAt, _viewers.Count, _writer is not null, !_ended, ExitCode, Program?.Kind ?? TerminalInfo.Shell,
                    Program?.MaxLifetime is { } most ? StartedAt + most : null);
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
                    if (Expired() is { } expired)
                    {
                        why = expired;
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

    /// <summary>Why the terminal must end now (nobody attached for too long, or its program's time is up), or null.</summary>
    private string? Expired()
    {
        lock (_sync)
        {
            var now = Time.GetUtcNow();
            if (Program?.MaxLifetime is { } most && now - StartedAt >= most)
            {
                return $"it reached its time limit of {most}";
            }
            return _viewers.Count == 0 && now - _detachedSince >= options.DetachedTimeout ? $"nobody was attached for {options.DetachedTimeout}" : null;
        }
    }

    private void Publish(byte[] chunk)
    {
        lock (_sync)
        {
            // The ring keeps the latest output; when one chunk is larger than the ring, only its end is kept.
            var data = chunk.AsSpan(Math.Max(0, chunk.Length - _ring.Length));
            var end = (_ringStart + _ringLength) % _ring.Length;
            var first = Math.Min(data.Length, _ring.Length - end);
            data[..first].CopyTo(_ring.AsSpan(end));
            data[first..].CopyTo(_ring);
            var overflow = Math.Max(0, _ringLength + data.Length - _ring.Length);
            _ringLength = Math.Min(_ring.Length, _ringLength + data.Length);
            _ringStart = (_ringStart + overflow) % _ring.Length;
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
