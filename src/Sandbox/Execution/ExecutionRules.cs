using System.Security.Cryptography;
using System.Text;
using Sandbox.Durability;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Execution;

/// <summary>The rules around an execution that are not running it: what a request may ask for, and what the history
/// keeps of it.</summary>
internal static class ExecutionRules
{
    /// <summary>Checks a request against the execution options; returns its timeout.</summary>
    public static TimeSpan Validate(ExecutionRequest request, ExecutionOptions options)
    {
        if (request.Code is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "code is required.");
        }
        if (request.Code.Length > options.MaxCodeChars)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"code is longer than {options.MaxCodeChars} characters.");
        }
        if (!ExecutionService.Languages.Contains(request.Language, StringComparer.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Unsupported language '{SafeText.Shorten(request.Language)}'. Use one of: {string.Join(", ", ExecutionService.Languages)}.");
        }
        if (request.Fresh && request.Language != "python")
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "fresh applies to python only; bash and node always run in a new process.");
        }
        var timeout = request.Timeout ?? options.DefaultTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout must be positive.");
        }
        if (timeout > options.MaxTimeout)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"timeout {timeout.TotalSeconds} s is above the server maximum of {options.MaxTimeout.TotalSeconds} s.");
        }
        return timeout;
    }

    /// <summary>The history entry of an execution (the code's hash and size, never the code).</summary>
    public static void Record(SessionJournal journal, TimeProvider time, Session session, ExecutionRequest request, ExecutionResult? result, SandboxException? error,
        string? codeSha256 = null, int? codeSize = null)
    {
        var output = result is null ? error?.Message
            : SessionJournal.Head(result.Stdout) + (result.Stderr.Length > 0 ? "\n[stderr] " + SessionJournal.Head(result.Stderr) : "");
        journal.Record(new HistoryEntry(session.Id, session.Owner, error?.Code == SandboxErrorCodes.UnsafeCode ? "refused" : "execution",
            time.GetUtcNow(), request.Language, codeSha256 ?? Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(request.Code))),
            codeSize ?? request.Code.Length, result?.ExitCode, result?.Error?.Type ?? error?.Code, result?.TimedOut ?? false, result?.DurationMs, output));
    }
}
