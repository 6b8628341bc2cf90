namespace Sandbox.Processes;

/// <summary>A command to run in the background of a session.</summary>
public sealed record ProcessRequest
{
    /// <summary>A bash command line (run with <c>bash -c</c>); or give <see cref="Argv"/>.</summary>
    public string? Command { get; init; }

    /// <summary>The program and its arguments, run without a shell; or give <see cref="Command"/>.</summary>
    public IReadOnlyList<string>? Argv { get; init; }

    /// <summary>Working directory relative to <c>/workspace</c> (default: the workspace).</summary>
    public string? Cwd { get; init; }

    /// <summary>Extra environment variables.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    /// <summary>Safety rule ids or names to allow (the command line gets the same static check as bash code).</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];
}

/// <summary>A background process of a session.</summary>
/// <param name="ProcessId">Its id in the session.</param>
/// <param name="Command">What it runs (at most 500 characters).</param>
/// <param name="Running">Whether it still runs.</param>
/// <param name="ExitCode">Its exit status once it ended (128+N: killed by signal N).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="StdoutBytes">Bytes it wrote to stdout so far.</param>
/// <param name="StderrBytes">Bytes it wrote to stderr so far.</param>
/// <param name="OutputLog">The workspace path of its whole output, without the <c>.stdout</c>/<c>.stderr</c> suffix.</param>
public sealed record ProcessInfo(string ProcessId, string Command, bool Running, int? ExitCode, DateTimeOffset StartedAt,
    long StdoutBytes, long StderrBytes, string? OutputLog);

/// <summary>Output of a background process since two cursors (byte offsets into its streams).</summary>
/// <param name="Process">The process now.</param>
/// <param name="Stdout">Stdout since the stdout cursor.</param>
/// <param name="Stderr">Stderr since the stderr cursor.</param>
/// <param name="StdoutCursor">Pass it next time to read on.</param>
/// <param name="StderrCursor">Pass it next time to read on.</param>
/// <param name="SkippedBytes">Bytes between the cursors and what memory still holds (they are in the output log).</param>
public sealed record ProcessOutput(ProcessInfo Process, string Stdout, string Stderr, long StdoutCursor, long StderrCursor, long SkippedBytes);
