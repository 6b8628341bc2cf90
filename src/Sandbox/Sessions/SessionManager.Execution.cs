using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Safety;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    private static readonly string[] Languages = ["python", "bash", "node"];

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
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var timeout = ValidateRequest(request);
        Claim(session, _executionSlots,
            $"Session {session.Id} is running another execution. Wait for it to finish, or use another session.",
            $"The server already runs its maximum of {_options.MaxConcurrentExecutions} executions. Retry shortly.");
        var channel = Channel.CreateBounded<ExecutionEvent>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producer = Task.Run(async () =>
        {
            ExecutionResult? result = null;
            try
            {
                await EnsureRunningAsync(session, stop.Token).ConfigureAwait(false);
                result = await RunAsync(session, request, timeout, channel.Writer, stop.Token).ConfigureAwait(false);
                RecordExecution(session, request, result, null);
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                RecordExecution(session, request, null, e as SandboxException ?? new SandboxException("cancelled", "The caller cancelled the execution."));
                channel.Writer.TryComplete(e);
            }
            finally
            {
                Unclaim(session, _executionSlots);
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

    /// <summary>
    /// Claims a session for one execution or agent run, and one of the server-wide <paramref name="slots"/>: refused at
    /// once (<c>session_busy</c>, <c>capacity_exceeded</c>), never queued. <see cref="Unclaim"/> gives both back.
    /// </summary>
    private static void Claim(Session session, SemaphoreSlim slots, string busyMessage, string fullMessage)
    {
        if (!session.Gate.Wait(0))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy, busyMessage);
        }
        if (!slots.Wait(0))
        {
            session.Gate.Release();
            throw new SandboxException(SandboxErrorCodes.CapacityExceeded, fullMessage);
        }
        lock (session.Sync)
        {
            session.Busy = true;
        }
    }

    /// <summary>Ends what <see cref="Claim"/> began: the session is idle again (one call more) and the slot is free.</summary>
    private void Unclaim(Session session, SemaphoreSlim slots)
    {
        lock (session.Sync)
        {
            session.Busy = false;
            session.ExecutionCount++;
        }
        session.Touch(_time.GetUtcNow());
        slots.Release();
        session.Gate.Release();
    }

    private TimeSpan ValidateRequest(ExecutionRequest request)
    {
        if (request.Code is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "code is required.");
        }
        if (request.Code.Length > _options.MaxCodeChars)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"code is longer than {_options.MaxCodeChars} characters.");
        }
        if (!Languages.Contains(request.Language, StringComparer.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Unsupported language '{Shorten(request.Language)}'. Use one of: {string.Join(", ", Languages)}.");
        }
        if (request.Fresh && request.Language != "python")
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "fresh applies to python only; bash and node always run in a new process.");
        }
        var timeout = request.Timeout ?? _options.DefaultExecutionTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout must be positive.");
        }
        if (timeout > _options.MaxExecutionTimeout)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"timeout {timeout.TotalSeconds} s is above the server maximum of {_options.MaxExecutionTimeout.TotalSeconds} s.");
        }
        return timeout;
    }

    private async Task<ExecutionResult> RunAsync(Session session, ExecutionRequest request, TimeSpan timeout, ChannelWriter<ExecutionEvent> events, CancellationToken ct)
    {
        var findings = await CheckSafetyAsync(session, request, ct).ConfigureAwait(false);
        var runner = session.Live;
        var id = runner.NewId();
        using var subscription = runner.Subscribe(id);
        var stopwatch = Stopwatch.StartNew();
        await runner.SendAsync(new Dictionary<string, object>
        {
            ["op"] = "exec", ["id"] = id, ["code"] = request.Code, ["language"] = request.Language,
            ["fresh"] = request.Fresh, ["max_output"] = _options.MaxOutputChars,
        }, ct).ConfigureAwait(false);

        var stdout = new CappedText(_options.MaxOutputChars);
        var stderr = new CappedText(_options.MaxOutputChars);
        var images = new List<ExecutionImage>();
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        CancellationTokenSource? grace = null;
        var hostTimedOut = false;
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
                    // Deadline or caller cancel: ask the runner to stop the code, then give it a bounded grace.
                    hostTimedOut = deadline.IsCancellationRequested;
                    grace = new CancellationTokenSource(_options.KillGrace, _time);
                    await runner.SendAsync(new Dictionary<string, object> { ["op"] = "cancel", ["id"] = id }, grace.Token).ConfigureAwait(false);
                    continue;
                }
                catch (OperationCanceledException)
                {
                    // The runner did not stop the code within the grace: the sandbox is hung. Kill it; never hang the caller.
                    await KillHungSessionAsync(session).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                    var hung = new ExecutionResult
                    {
                        ExecutionId = id, Stdout = stdout.ToString(), Stderr = stderr.ToString(), ExitCode = null,
                        Error = new ExecutionError("SandboxUnresponsive", "The sandbox stopped answering after the timeout; its container was stopped and the session is lost. Create a new session.", null),
                        TimedOut = true, Truncated = stdout.Truncated || stderr.Truncated, StateLost = true,
                        DurationMs = stopwatch.Elapsed.TotalMilliseconds, Images = images, Findings = findings,
                    };
                    await Emit(events, new CompletedEvent(hung), ct).ConfigureAwait(false);
                    return hung;
                }
                catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
                {
                    throw new SandboxException(lost.Code, lost.Message, e);
                }

                switch (message.Type)
                {
                    case "out":
                        var stream = Str(message.Body, "stream");
                        var text = Str(message.Body, "data") ?? "";
                        var target = stream == "stderr" ? stderr : stdout;
                        var kept = target.Append(text);
                        if (kept.Length > 0)
                        {
                            await Emit(events, new OutputEvent(stream == "stderr" ? "stderr" : "stdout", kept), ct).ConfigureAwait(false);
                        }
                        break;
                    case "image":
                        if (images.Count < 16 && Str(message.Body, "data") is { } data)
                        {
                            var image = new ExecutionImage("png", data);
                            images.Add(image);
                            await Emit(events, new ImageEvent(image), ct).ConfigureAwait(false);
                        }
                        break;
                    case "error" when Str(message.Body, "code") == "command_not_found":
                        throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                            $"This session's image cannot run {request.Language} code ({Shorten(Str(message.Body, "message"))}). Create the session with image 'agent', which has Node.js.");
                    case "error":
                        throw new SandboxException(Str(message.Body, "code") == "session_busy" ? SandboxErrorCodes.SessionBusy : SandboxErrorCodes.Internal,
                            "The sandbox refused the execution: " + Shorten(Str(message.Body, "message")));
                    case "done":
                        ct.ThrowIfCancellationRequested();
                        var result = new ExecutionResult
                        {
                            ExecutionId = id,
                            Stdout = stdout.ToString(),
                            Stderr = stderr.ToString(),
                            ExitCode = Int(message.Body, "exit_code"),
                            Error = ParseError(message.Body),
                            TimedOut = hostTimedOut || Bool(message.Body, "timed_out") && grace is not null,
                            Truncated = stdout.Truncated || stderr.Truncated || Bool(message.Body, "truncated"),
                            StateLost = Bool(message.Body, "state_lost"),
                            DurationMs = stopwatch.Elapsed.TotalMilliseconds,
                            Images = images,
                            Findings = findings,
                        };
                        await Emit(events, new CompletedEvent(result), ct).ConfigureAwait(false);
                        return result;
                }
            }
        }
        finally
        {
            grace?.Dispose();
        }
    }

    /// <summary>Writes an event unless the consumer has gone; then the read loop stops the code.</summary>
    private static async ValueTask Emit(ChannelWriter<ExecutionEvent> events, ExecutionEvent e, CancellationToken ct)
    {
        try
        {
            await events.WriteAsync(e, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<IReadOnlyList<SafetyFinding>> CheckSafetyAsync(Session session, ExecutionRequest request, CancellationToken ct)
    {
        if (_options.Safety.Mode == SafetyMode.Off)
        {
            return [];
        }
        IReadOnlyList<SafetyFinding> findings;
        if (request.Language == "python")
        {
            // Python's own parser, in the sandbox's runner process (not the user's interpreter).
            var facts = await AskRunnerAsync(session, new() { ["op"] = "analyze", ["code"] = request.Code }, TimeSpan.FromSeconds(10), "safety check", ct).ConfigureAwait(false);
            // A syntax error is reported by Python itself when the code runs, with Python's exact message.
            findings = _safety.CheckPython(ParseFacts(facts.Body), request.Allow.ToHashSet(StringComparer.Ordinal));
        }
        else if (request.Language == "bash")
        {
            findings = _safety.CheckBash(request.Code, request.Allow.ToHashSet(StringComparer.Ordinal));
        }
        else
        {
            findings = []; // no static policy for JavaScript: the container alone is the boundary
        }
        if (findings.Count > 0 && _options.Safety.Mode == SafetyMode.Enforce)
        {
            var lines = string.Join("; ", findings.Take(10).Select(f => $"line {f.Line}: [{f.RuleId}] {f.Message}"));
            throw new SandboxException(SandboxErrorCodes.UnsafeCode,
                $"The code was not run: the safety check found {findings.Count} problem(s): {lines}. Rewrite the code, or pass the rule ids or names in 'allow' if the code is intended.")
            {
                Details = findings,
            };
        }
        return findings;
    }

    private async Task KillHungSessionAsync(Session session)
    {
        session.MarkLost("the sandbox stopped answering after a timeout and was stopped");
        LogHung(_logger, session.Id);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _backend.KillAsync(session.ContainerId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogCleanupFailed(_logger, session.Id, e.Message);
        }
    }

    private static List<CodeFact> ParseFacts(JsonElement body)
    {
        var list = new List<CodeFact>();
        if (!body.TryGetProperty("facts", out var facts) || facts.ValueKind != JsonValueKind.Array)
        {
            return list;
        }
        foreach (var f in facts.EnumerateArray())
        {
            if (f.ValueKind != JsonValueKind.Object || Str(f, "kind") is not { } kind || Str(f, "name") is not { } name)
            {
                continue;
            }
            var constant = !f.TryGetProperty("constant_args", out var c) || c.ValueKind != JsonValueKind.False;
            list.Add(new CodeFact(kind, name, Int(f, "line") ?? 0, constant));
        }
        return list;
    }

    private static ExecutionError? ParseError(JsonElement body)
    {
        if (!body.TryGetProperty("error", out var e) || e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        return new ExecutionError(Str(e, "type") ?? "Error", Str(e, "message") ?? "", Str(e, "traceback"));
    }

    internal static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;

    internal static bool Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: runner did not stop the code within the grace; container killed")]
    private static partial void LogHung(ILogger logger, string sessionId);

    /// <summary>Text kept up to a cap; the rest is counted and dropped.</summary>
    private sealed class CappedText(int cap)
    {
        private readonly StringBuilder _text = new();

        public bool Truncated { get; private set; }

        public string Append(string text)
        {
            var room = cap - _text.Length;
            if (room <= 0)
            {
                Truncated |= text.Length > 0;
                return "";
            }
            if (text.Length > room)
            {
                Truncated = true;
                text = text[..room];
            }
            _text.Append(text);
            return text;
        }

        public override string ToString() => _text.ToString();
    }
}
