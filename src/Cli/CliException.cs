namespace Sandbox.Cli;

/// <summary>The exit codes scripts can rely on.</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;
    /// <summary>The server or git refused or failed (the message says why).</summary>
    public const int Failed = 1;
    /// <summary>The command line was wrong (unknown command, missing argument, bad option).</summary>
    public const int Usage = 2;
    /// <summary>No such task.</summary>
    public const int NotFound = 3;
    /// <summary><c>check</c>: the task is not clean (uncommitted, unpushed, or behind its base).</summary>
    public const int NotClean = 4;
    /// <summary>The server could not be reached.</summary>
    public const int Unreachable = 5;
}

/// <summary>A failure the command line reports as a message and an exit code (never a stack trace).</summary>
public sealed class CliException(int exitCode, string code, string message) : Exception(message)
{
    /// <summary>The exit code.</summary>
    public int ExitCode { get; } = exitCode;

    /// <summary>A stable code for <c>--json</c> output.</summary>
    public string Code { get; } = code;
}
