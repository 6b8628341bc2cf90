using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Sandbox.Runner;

namespace Sandbox.Terminals;

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
