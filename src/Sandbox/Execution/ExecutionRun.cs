using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sandbox.Runner;
using Sandbox.Safety;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Execution;

/// <summary>One execution in the runner: sends the code, turns the runner's messages into events (output capped,
/// images bounded), and builds the result, including the hung-sandbox case.</summary>
internal sealed class ExecutionRun(Session session, SessionRegistry registry, Action<ExecutionEvent> emit, ExecutionOptions options, TimeSpan killGrace,
    TimeProvider time)
{
    private readonly CappedText _stdout = new(options.MaxOutputChars);
    private readonly CappedText _stderr = new(options.MaxOutputChars);
    private readonly List<ExecutionImage> _images = [];

    public Task<ExecutionResult> RunAsync(string id, ExecutionRequest request, TimeSpan timeout, IReadOnlyList<SafetyFinding> findings, CancellationToken ct) =>
        RunAsync(id, new ExecRequest
        {
            Code = request.Code, Language = request.Language, Fresh = request.Fresh, MaxOutput = options.MaxOutputChars, Spill = id,
            // The whole output is kept in the workspace exactly when an answer will not hold it all.
            SpillAfter = Math.Min(request.MaxOutputChars ?? int.MaxValue, options.MaxOutputChars),
            TimeoutS = timeout.TotalSeconds,
        }, request, timeout, findings, ct);

    /// <summary>Takes up an execution the runner ran while no server was attached: what it said so far is replayed,
    /// then it goes on live; <paramref name="timeout"/> is what is left of its deadline.</summary>
    public Task<ExecutionResult> ResumeAsync(string id, ExecutionRequest request, TimeSpan timeout, CancellationToken ct) =>
        RunAsync(id, new ReplayRequest(), request, timeout, [], ct);

    private async Task<ExecutionResult> RunAsync(string id, RunnerRequest command, ExecutionRequest request, TimeSpan timeout,
        IReadOnlyList<SafetyFinding> findings, CancellationToken ct)
    {
        var runner = session.Live;
        var stopwatch = Stopwatch.StartNew();
        ExecutionResult? result = null;
        var runnerTimedOut = false;
        // Taking up an execution after a restart: live messages that arrive before the replay are in it too, so only
        // the replay (all the runner kept, in order) and what follows it count.
        var replayed = command is not ReplayRequest;
        async ValueTask<bool> OnMessage(RunnerMessage message)
        {
            if (!replayed)
            {
                if (message.Type != "replayed")
                {
                    return false;
                }
                replayed = true;
                if (message.Body.TryGetProperty("messages", out var kept) && kept.ValueKind == JsonValueKind.Array)
                {
                    foreach (var m in kept.EnumerateArray())
                    {
                        if (await Handle(new RunnerMessage(Str(m, "type") ?? "", id, m.Clone())).ConfigureAwait(false))
                        {
                            return true;
                        }
                    }
                }
                return false;
            }
            return await Handle(message).ConfigureAwait(false);
        }

        async ValueTask<bool> Handle(RunnerMessage message)
        {
            switch (message.Type)
            {
                case "out":
                    var stream = Str(message.Body, "stream") == "stderr" ? "stderr" : "stdout";
                    var kept = (stream == "stderr" ? _stderr : _stdout).Append(Str(message.Body, "data") ?? "");
                    if (kept.Length > 0)
                    {
                        emit(new OutputEvent(stream, kept));
                    }
                    return false;
                case "image":
                    if (_images.Count < 16 && Str(message.Body, "data") is { } data)
                    {
                        var image = new ExecutionImage("png", data);
                        _images.Add(image);
                        emit(new ImageEvent(image));
                    }
                    return false;
                case "error" when Str(message.Body, "code") == "python_unavailable":
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                        $"Session {session.Id}'s image ({SafeText.Shorten(session.Image, 120)}) has no python3, so stateful Python is unavailable there. Run bash or node code, or create the session from an image with Python.");
                case "error" when Str(message.Body, "code") == "command_not_found":
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                        $"This session's image cannot run {request.Language} code ({SafeText.Shorten(Str(message.Body, "message"))}). Create the session with image 'agent', which has Node.js.");
                case "error":
                    throw new SandboxException(Str(message.Body, "code") == "session_busy" ? SandboxErrorCodes.SessionBusy : SandboxErrorCodes.Internal,
                        "The sandbox refused the execution: " + SafeText.Shorten(Str(message.Body, "message")));
                case "done":
                    ct.ThrowIfCancellationRequested();
                    runnerTimedOut = Bool(message.Body, "timed_out");
                    result = Result(id, stopwatch) with
                    {
                        ExitCode = Int(message.Body, "exit_code"),
                        Error = ParseError(message.Body),
                        Truncated = _stdout.Truncated || _stderr.Truncated || Bool(message.Body, "truncated"),
                        StateLost = Bool(message.Body, "state_lost"),
                        Findings = findings,
                    };
                    if (message.Body.TryGetProperty("tails", out var tails) && tails.ValueKind == JsonValueKind.Object)
                    {
                        result = result with { StdoutTail = Str(tails, "stdout"), StderrTail = Str(tails, "stderr") };
                    }
                    if (message.Body.TryGetProperty("bytes", out var bytes) && bytes.ValueKind == JsonValueKind.Object)
                    {
                        result = result with { StdoutBytes = Bytes(bytes, "stdout"), StderrBytes = Bytes(bytes, "stderr") };
                    }
                    if (message.Body.TryGetProperty("kept", out var keptStreams) && keptStreams.ValueKind == JsonValueKind.Array && keptStreams.GetArrayLength() > 0)
                    {
                        result = result with { OutputLog = OutputLog.PathOf(id) };
                    }
                    return true;
                default:
                    return false;
            }
        }

        var end = await RunnerCommand.RunAsync(runner, id, command, timeout, killGrace, time, OnMessage, ct).ConfigureAwait(false);

        if (end.Hung)
        {
            // The runner did not stop the code within the grace: the sandbox is hung. Kill it; never hang the caller.
            await registry.KillHungAsync(session).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            result = Result(id, stopwatch) with
            {
                Error = new ExecutionError("SandboxUnresponsive", "The sandbox stopped answering after the timeout; its container was stopped and the session is lost. Create a new session.", null),
                TimedOut = true, StateLost = true, Findings = findings,
            };
        }
        else
        {
            // The runner's own timeout flag counts only when the host stopped the code (user code cannot claim one).
            result = result! with { TimedOut = end.DeadlineHit || runnerTimedOut && end.StopSent };
        }
        return result;
    }

    private ExecutionResult Result(string id, Stopwatch stopwatch) => new()
    {
        ExecutionId = id, Stdout = _stdout.ToString(), Stderr = _stderr.ToString(), ExitCode = null, Error = null,
        TimedOut = false, Truncated = _stdout.Truncated || _stderr.Truncated, StateLost = false,
        DurationMs = stopwatch.Elapsed.TotalMilliseconds, Images = _images, Findings = [],
    };

    private static long? Bytes(JsonElement body, string name) =>
        body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= 0 ? n : null;

    private static ExecutionError? ParseError(JsonElement body)
    {
        if (!body.TryGetProperty("error", out var e) || e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        return new ExecutionError(Str(e, "type") ?? "Error", Str(e, "message") ?? "", Str(e, "traceback"));
    }

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
