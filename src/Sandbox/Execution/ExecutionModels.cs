using Sandbox.Safety;

namespace Sandbox.Execution;

/// <summary>What to run in a session.</summary>
public sealed record ExecutionRequest
{
    /// <summary>The source code.</summary>
    public required string Code { get; init; }

    /// <summary><c>python</c> (stateful by default), <c>bash</c> or <c>node</c> (a new process each call; node needs an image with Node.js, such as <c>agent</c>).</summary>
    public string Language { get; init; } = "python";

    /// <summary>Wall-clock limit; null for the server default.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Python only: run in a new interpreter that does not see (or change) the session's variables.</summary>
    public bool Fresh { get; init; }

    /// <summary>Safety rule ids or names to allow for this call (e.g. <c>PY001</c>, <c>subprocess.*</c>, <c>socket</c>).</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    /// <summary>How long the call waits for the code to finish; when it has not by then, the call returns the output so
    /// far with status <c>running</c> and the code keeps running (read on with the execution id). Null: until done.</summary>
    public TimeSpan? WaitFor { get; init; }

    /// <summary>The most characters of stdout and of stderr the answer carries: longer output comes back as its head and
    /// tail with a marker saying what was left out and how to read it (the whole stream is then kept in the session's
    /// <c>/workspace/.outputs</c>). Null: the server cap.</summary>
    public int? MaxOutputChars { get; init; }

    /// <summary>Before the code runs, install what it imports and the session lacks (<c>python</c> and <c>node</c>),
    /// through <c>install_packages</c>' path and policy.</summary>
    public bool AutoInstall { get; init; }

    /// <summary>Import names (or package names) <see cref="AutoInstall"/> leaves alone.</summary>
    public IReadOnlyList<string> AutoInstallIgnore { get; init; } = [];
}

/// <summary>Where an execution is.</summary>
public enum ExecutionStatus
{
    /// <summary>Ran to its end (an exception or a timeout is still a finished execution, with its error).</summary>
    Finished,
    /// <summary>Still running: read on with its id and cursor.</summary>
    Running,
    /// <summary>Could not run or was cut off by a failure of the sandbox (see the failure's code).</summary>
    Failed,
    /// <summary>Stopped by a cancel.</summary>
    Cancelled,
}

/// <summary>Why an execution did not finish.</summary>
/// <param name="Code">A stable error code (<c>session_lost</c>, <c>unsafe_code</c>, <c>cancelled</c>…).</param>
/// <param name="Message">What happened.</param>
public sealed record ExecutionFailure(string Code, string Message);

/// <summary>An execution in a session's list.</summary>
/// <param name="ExecutionId">Its id.</param>
/// <param name="Language">Its language.</param>
/// <param name="Status">Where it is.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="DurationMs">How long it ran (so far).</param>
public sealed record ExecutionSummary(string ExecutionId, string Language, ExecutionStatus Status, DateTimeOffset StartedAt, double DurationMs);

/// <summary>A Python exception that ended the execution.</summary>
/// <param name="Type">Exception type name, e.g. <c>ZeroDivisionError</c>.</param>
/// <param name="Message">The exception's message.</param>
/// <param name="Traceback">The traceback text exactly as Python prints it, when there is one.</param>
public sealed record ExecutionError(string Type, string Message, string? Traceback);

/// <summary>An image the code produced (a matplotlib figure).</summary>
/// <param name="Format">Image format, <c>png</c>.</param>
/// <param name="Base64">The image bytes, base64.</param>
public sealed record ExecutionImage(string Format, string Base64);

/// <summary>The outcome of one execution.</summary>
public sealed record ExecutionResult
{
    /// <summary>Id of this execution within its session.</summary>
    public required string ExecutionId { get; init; }
    /// <summary>Standard output (capped).</summary>
    public required string Stdout { get; init; }
    /// <summary>Standard error (capped); holds the traceback of an exception.</summary>
    public required string Stderr { get; init; }
    /// <summary>Process exit status; for stateful Python 0 on success, 1 on an exception, the code of <c>sys.exit</c>.</summary>
    public int? ExitCode { get; init; }
    /// <summary>The exception that ended the code, when one did.</summary>
    public ExecutionError? Error { get; init; }
    /// <summary>Whether the wall-clock timeout stopped the code.</summary>
    public bool TimedOut { get; init; }
    /// <summary>Whether output was cut at the cap.</summary>
    public bool Truncated { get; init; }
    /// <summary>Whether the session's Python variables were lost (the interpreter had to be restarted).</summary>
    public bool StateLost { get; init; }
    /// <summary>Wall-clock duration measured by the engine, in milliseconds.</summary>
    public double DurationMs { get; init; }
    /// <summary>Images (matplotlib figures) the code produced.</summary>
    public IReadOnlyList<ExecutionImage> Images { get; init; } = [];
    /// <summary>Safety findings (in warn mode, the code ran anyway).</summary>
    public IReadOnlyList<SafetyFinding> Findings { get; init; } = [];
    /// <summary>What <see cref="ExecutionRequest.AutoInstall"/> installed before the code ran.</summary>
    public IReadOnlyList<Packages.InstalledPackage> AutoInstalled { get; init; } = [];

    /// <summary>Where the engine's time went (for diagnostics such as the REST face's <c>Server-Timing</c> header).</summary>
    public ExecutionTimings? Timings { get; init; }

    /// <summary>Where the execution is; <see cref="ExecutionStatus.Running"/> when the call stopped waiting first.</summary>
    public ExecutionStatus Status { get; init; } = ExecutionStatus.Finished;

    /// <summary>Why it did not finish (status failed or cancelled).</summary>
    public ExecutionFailure? Failure { get; init; }

    /// <summary>Pass it to get_execution to read only what came after this answer.</summary>
    public int Cursor { get; init; }

    /// <summary>Bytes the code wrote to stdout and to stderr in all.</summary>
    public long? StdoutBytes { get; init; }

    /// <inheritdoc cref="StdoutBytes"/>
    public long? StderrBytes { get; init; }

    /// <summary>When stdout was cut at the server cap: its last characters (up to 64 Ki), so a budgeted answer can end
    /// with the output's real end.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public string? StdoutTail { get; init; }

    /// <inheritdoc cref="StdoutTail"/>
    [System.Text.Json.Serialization.JsonIgnore] public string? StderrTail { get; init; }

    /// <summary>The workspace path of the kept output, without the <c>.stdout</c>/<c>.stderr</c> suffix
    /// (<c>.outputs/ID</c>): kept when a stream outgrew what the answer holds (the call's budget or the server cap);
    /// null when the answer has it all.</summary>
    public string? OutputLog { get; init; }
}

/// <summary>One event of a streaming execution.</summary>
public abstract record ExecutionEvent;

/// <summary>Output as it was produced.</summary>
/// <param name="Stream"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Text">The text.</param>
public sealed record OutputEvent(string Stream, string Text) : ExecutionEvent;

/// <summary>An image the code produced.</summary>
/// <param name="Image">The image.</param>
public sealed record ImageEvent(ExecutionImage Image) : ExecutionEvent;

/// <summary>The last event: the whole result.</summary>
/// <param name="Result">The result.</param>
public sealed record CompletedEvent(ExecutionResult Result) : ExecutionEvent;

/// <summary>Where an execution's time went inside the engine.</summary>
/// <param name="CheckMs">Making sure the sandbox runs, and the static safety check (with its round trip to the runner
/// unless the session knew the code's facts).</param>
/// <param name="RunMs">The run in the sandbox: the request to the runner, the code, the answer.</param>
public sealed record ExecutionTimings(double CheckMs, double RunMs);
