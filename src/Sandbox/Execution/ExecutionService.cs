using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Execution;

/// <summary>
/// Code execution in a session's long-lived runner: validation, the static safety check, one execution at a time per
/// session (never queued), the host-enforced deadline, output streaming, and the history entry of every call.
/// </summary>
public sealed class ExecutionService
{
    /// <summary>The languages an execution may name.</summary>
    public static readonly IReadOnlyList<string> Languages = ["python", "bash", "node"];

    private readonly SessionRegistry _registry;
    private readonly ExecutionSafety _safety;
    private readonly SessionJournal _journal;
    private readonly SandboxOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    public ExecutionService(SessionRegistry registry, ExecutionSafety safety, SessionJournal journal, IOptions<SandboxOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _registry = registry;
        _safety = safety;
        _journal = journal;
        _options = options.Value;
        _time = time;
    }

    /// <summary>Runs code and returns the whole result.</summary>
    public async Task<ExecutionResult> ExecuteAsync(string sessionId, string owner, ExecutionRequest request, CancellationToken ct)
    {
        await foreach (var e in ExecuteStreamingAsync(sessionId, owner, request, ct).ConfigureAwait(false))
        {
            if (e is CompletedEvent done)
            {
                return done.Result;
            }
        }
        throw new SandboxException(SandboxErrorCodes.Internal, "The execution ended without a result.");
    }

    /// <summary>Runs code, yielding output as it is produced and the result last.</summary>
    /// <remarks>Calls on one session are not queued: a second call while one runs fails with <c>session_busy</c>.
    /// Cancelling stops the code in the sandbox (the session stays usable) and then throws.</remarks>
    public async IAsyncEnumerable<ExecutionEvent> ExecuteStreamingAsync(string sessionId, string owner, ExecutionRequest request,
        [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var timeout = Validate(request);
        _registry.Claim(session, SessionWork.Execution, $"Session {session.Id} is running another execution. Wait for it to finish, or use another session.");
        var channel = Channel.CreateBounded<ExecutionEvent>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producer = Task.Run(async () =>
        {
            try
            {
                await _registry.EnsureRunningAsync(session, stop.Token).ConfigureAwait(false);
                var findings = await _safety.CheckAsync(session, request, stop.Token).ConfigureAwait(false);
                var run = new ExecutionRun(session, _registry, channel.Writer, _options, _time);
                var result = await run.RunAsync(request, timeout, findings, stop.Token).ConfigureAwait(false);
                Record(session, request, result, null);
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                if (e is SandboxException { Code: SandboxErrorCodes.SessionLost } lost)
                {
                    e = await _registry.ExplainAsync(session, lost).ConfigureAwait(false);
                }
                Record(session, request, null, e as SandboxException ?? new SandboxException("cancelled", "The caller cancelled the execution."));
                channel.Writer.TryComplete(e);
            }
            finally
            {
                _registry.Release(session, SessionWork.Execution);
            }
        }, CancellationToken.None);
        try
        {
            while (await channel.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var e))
                {
                    yield return e;
                }
            }
        }
        finally
        {
            // A consumer that stops listening early stops the code too.
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
    }

    private TimeSpan Validate(ExecutionRequest request)
    {
        if (request.Code is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "code is required.");
        }
        if (request.Code.Length > _options.Execution.MaxCodeChars)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"code is longer than {_options.Execution.MaxCodeChars} characters.");
        }
        if (!Languages.Contains(request.Language, StringComparer.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Unsupported language '{SafeText.Shorten(request.Language)}'. Use one of: {string.Join(", ", Languages)}.");
        }
        if (request.Fresh && request.Language != "python")
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "fresh applies to python only; bash and node always run in a new process.");
        }
        var timeout = request.Timeout ?? _options.Execution.DefaultTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout must be positive.");
        }
        if (timeout > _options.Execution.MaxTimeout)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"timeout {timeout.TotalSeconds} s is above the server maximum of {_options.Execution.MaxTimeout.TotalSeconds} s.");
        }
        return timeout;
    }

    private void Record(Session session, ExecutionRequest request, ExecutionResult? result, SandboxException? error)
    {
        var output = result is null ? error?.Message
            : SessionJournal.Head(result.Stdout) + (result.Stderr.Length > 0 ? "\n[stderr] " + SessionJournal.Head(result.Stderr) : "");
        _journal.Record(new HistoryEntry(session.Id, session.Owner, error?.Code == SandboxErrorCodes.UnsafeCode ? "refused" : "execution",
            _time.GetUtcNow(), request.Language, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(request.Code))),
            request.Code.Length, result?.ExitCode, result?.Error?.Type ?? error?.Code, result?.TimedOut ?? false, result?.DurationMs, output));
    }
}
