using System.Globalization;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Git;

/// <summary>The engine's own git steps inside a session's workspace (as the sandbox user, through the runner, each
/// bounded in time): commit on request, the commits since a base and what is uncommitted, and any command's output.</summary>
internal sealed class GitCommands(SessionRegistry registry, SandboxOptions options, TimeProvider time)
{
    /// <summary>Takes a usable session of <paramref name="owner"/> for a git step (throws <c>session_busy</c> while
    /// anything else runs in it; the caller releases <see cref="Session.Gate"/>). With <paramref name="requireGit"/>, a
    /// session without a repository is <c>not_a_git_session</c>.</summary>
    internal Session Enter(string sessionId, string owner, bool requireGit)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        if (requireGit && session.Git is null)
        {
            throw new SandboxException(SandboxErrorCodes.NotAGitSession,
                $"Session {session.Id} has no repository: create one with git = {{ url, ref }} (or import a bundle) to review, commit, export or push changes.");
        }
        registry.Lock(session, $"Session {session.Id} is running an execution or agent run; try again when it is idle.");
        return session;
    }

    internal async Task CommitIfAskedAsync(Session session, string? message, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return;
        }
        if (message.Length > 10_000 || message.Contains('\0', StringComparison.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "commit_message must be text of at most 10,000 characters.");
        }
        await RunAsync(session, ["git", "add", "-A"], ct).ConfigureAwait(false);
        var staged = await RunCapturedAsync(session, ["git", "diff", "--cached", "--quiet"], 1024, ct, check: false).ConfigureAwait(false);
        if (staged.ExitCode != 0)
        {
            await RunAsync(session, ["git", "commit", "--quiet", "--no-verify", "-m", message], ct).ConfigureAwait(false);
        }
    }

    internal async Task<(List<GitCommit> Commits, List<string> Uncommitted, string Head)> StateAsync(Session session, string baseCommit, CancellationToken ct)
    {
        var head = (await RunAsync(session, ["git", "rev-parse", "HEAD"], ct).ConfigureAwait(false)).Trim();
        var log = await RunAsync(session, ["git", "log", "--reverse", "--format=%H%x1f%s%x1f%an%x1f%aI", $"{baseCommit}..HEAD"], ct).ConfigureAwait(false);
        var commits = log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\x1f')).Where(p => p.Length == 4)
            .Select(p => new GitCommit(p[0], p[1], p[2], DateTimeOffset.Parse(p[3], CultureInfo.InvariantCulture))).ToList();
        var status = await RunAsync(session, ["git", "status", "--porcelain=v1", "--untracked-files=all"], ct).ConfigureAwait(false);
        return (commits, status.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(1000).ToList(), head);
    }

    /// <summary>Runs a command in the session (as the sandbox user, in the workspace) and returns its output; a
    /// non-zero exit is <c>git_failed</c> with its error output.</summary>
    internal async Task<string> RunAsync(Session session, IReadOnlyList<string> argv, CancellationToken ct) =>
        (await RunCapturedAsync(session, argv, 4 << 20, ct).ConfigureAwait(false)).Stdout;

    internal async Task<(int ExitCode, string Stdout, bool Truncated)> RunCapturedAsync(Session session, IReadOnlyList<string> argv, int maxOutput, CancellationToken ct, bool check = true)
    {
        var result = await RunnerProcess.RunAsync(session, registry, new ExecRequest
        {
            Language = "argv", Argv = argv, MaxOutput = maxOutput,
            Env = new Dictionary<string, string> { ["GIT_TERMINAL_PROMPT"] = "0", ["LC_ALL"] = "C", ["GIT_OPTIONAL_LOCKS"] = "0" },
        }, TimeSpan.FromMinutes(2), options.KillGrace, time, ct).ConfigureAwait(false);
        if (result.Refused is not null)
        {
            throw new SandboxException(SandboxErrorCodes.GitFailed, result.RefusedCode == "command_not_found"
                ? $"This session's image has no '{argv[0]}' command; git workspaces need an image with git (such as 'agent')."
                : "The sandbox refused a git step: " + SafeText.Shorten(result.Refused, 300));
        }
        if (result.ExitCode is not { } exit)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"'{argv[0]} {(argv.Count > 1 ? argv[1] : "")}' in the session did not finish within 2 minutes.");
        }
        if (check && exit != 0)
        {
            var err = result.Stderr.Trim();
            throw new SandboxException(SandboxErrorCodes.GitFailed, $"'{string.Join(' ', argv.Take(3))}' failed in the session (exit {exit}): {SafeText.Shorten(err.Length > 0 ? err : result.Stdout, 1000)}");
        }
        return (exit, result.Stdout, result.Truncated);
    }
}
