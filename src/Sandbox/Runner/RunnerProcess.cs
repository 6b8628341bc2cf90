using System.Text;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Runner;

/// <summary>What a short command run through the runner ended with.</summary>
/// <param name="ExitCode">Its exit status; null when it did not end (deadline) or was refused.</param>
/// <param name="Stdout">Its standard output (up to the cap).</param>
/// <param name="Stderr">Its error output (up to the cap).</param>
/// <param name="Truncated">Whether output was cut at the cap.</param>
/// <param name="DeadlineHit">Whether the deadline stopped it.</param>
/// <param name="Refused">Why the runner refused to start it (<c>command_not_found</c>…), if it did.</param>
/// <param name="RefusedCode">The runner's error code for that.</param>
internal sealed record RunnerProcessResult(int? ExitCode, string Stdout, string Stderr, bool Truncated, bool DeadlineHit, string? Refused, string? RefusedCode);

/// <summary>
/// A short command in a session (an argument vector or a bash line) run through the runner to completion, its output
/// collected: for the engine's own steps in a workspace (git, setup commands), not for callers' executions. A command
/// that does not end in time is cancelled; one that ignores that is reported hung and the sandbox's processes killed.
/// </summary>
internal static class RunnerProcess
{
    public static async Task<RunnerProcessResult> RunAsync(Session session, SessionRegistry registry, ExecRequest request,
        TimeSpan timeout, TimeSpan grace, TimeProvider time, CancellationToken ct)
    {
        var runner = session.Live;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        int? exit = null;
        var truncated = false;
        string? refused = null, refusedCode = null;
        var end = await RunnerCommand.RunAsync(runner, runner.NewId(), request, timeout, grace, time, message =>
        {
            switch (message.Type)
            {
                case "out":
                    (Str(message.Body, "stream") == "stderr" ? stderr : stdout).Append(Str(message.Body, "data"));
                    return ValueTask.FromResult(false);
                case "error":
                    refusedCode = Str(message.Body, "code");
                    refused = Str(message.Body, "message") ?? "refused";
                    return ValueTask.FromResult(true);
                case "done":
                    exit = Int(message.Body, "exit_code");
                    truncated = Bool(message.Body, "truncated");
                    return ValueTask.FromResult(true);
                default:
                    return ValueTask.FromResult(false);
            }
        }, ct).ConfigureAwait(false);
        if (end.Hung)
        {
            await registry.KillHungAsync(session).ConfigureAwait(false);
        }
        return new RunnerProcessResult(end.DeadlineHit ? null : exit, stdout.ToString(), stderr.ToString(), truncated, end.DeadlineHit, refused, refusedCode);
    }
}
