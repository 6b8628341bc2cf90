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
}

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
