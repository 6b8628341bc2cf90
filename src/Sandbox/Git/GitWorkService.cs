using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Sessions;

namespace Sandbox.Git;

/// <summary>
/// A session's repository worked with from outside: a caller's own repository brought in as a git bundle (so it never
/// needs to be reachable by the server: the caller's machine fetches and pushes with its own git set-up, and history
/// moves as bundles both ways), a review of the work (commits, what is uncommitted, the diff against the base), and a
/// commit on request. Every step runs as the sandbox user inside the session, each bounded in time.
/// </summary>
public sealed partial class GitWorkService(SessionRegistry registry, SessionJournal journal, IOptions<SandboxOptions> options, IOptions<GitOptions> git,
    TimeProvider time, ILogger<GitWorkService> logger)
{
    private readonly GitCommands _commands = new(registry, options.Value, time);
    private readonly GitOptions _git = git.Value;
    private readonly ILogger<GitWorkService> _logger = logger;

    /// <summary>The longest diff a review returns (characters); the rest is cut and the review says so.</summary>
    public const int MaxReviewDiffChars = 2_000_000;

    /// <summary>Makes the repository of a bundle the session's workspace repository: the bundle (a file already in the
    /// workspace, for example uploaded) is fetched into a new repository in <c>/workspace</c>, <paramref name="gitRef"/>
    /// (a branch in the bundle; omitted: its only branch, or the one its HEAD names) is checked out, and with
    /// <paramref name="branch"/> a new branch is started there. The bundle file is removed. The session then works as
    /// one cloned from a repository (agent runs on branches, review, commit, export), except that pushes go from the
    /// caller's machine: the session's <see cref="GitWorkspace.Url"/> is <paramref name="origin"/>, for the record only.</summary>
    public async Task<SessionInfo> ImportBundleAsync(string sessionId, string owner, string bundlePath, string? gitRef, string? branch, string? origin, CancellationToken ct)
    {
        CheckBundlePath(bundlePath);
        foreach (var (name, value) in new[] { ("ref", gitRef), ("branch", branch) })
        {
            if (value is not null && !GitService.IsRef(value))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} must be a branch name (letters, digits, . _ / - +; no '..', no leading '-').");
            }
        }
        if (origin is not null && (origin.Length > 2000 || origin.Any(char.IsControl)))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "origin must be a repository URL or path of at most 2,000 characters.");
        }
        var session = _commands.Enter(sessionId, owner, requireGit: false);
        try
        {
            if (session.Git is not null)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Session {session.Id} already has a repository ({session.Git.Url}); a bundle is imported into a new session.");
            }
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            var present = await _commands.RunCapturedAsync(session, ["test", "-e", ".git"], 1024, ct, check: false).ConfigureAwait(false);
            if (present.ExitCode == 0)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "The workspace already has a .git directory; a bundle is imported into a workspace without one.");
            }
            await _commands.RunAsync(session, ["git", "init", "--quiet"], ct).ConfigureAwait(false);
            try
            {
                var heads = await _commands.RunCapturedAsync(session, ["git", "bundle", "list-heads", "--", bundlePath], 1 << 20, ct, check: false).ConfigureAwait(false);
                if (heads.ExitCode != 0)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{bundlePath} is not a git bundle this repository can read (make one with 'git bundle create FILE BRANCH').");
                }
                var branches = heads.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2)
                    .Select(p => (Commit: p[0], Ref: p[1].Trim())).ToList();
                var checkout = gitRef ?? PickBranch(branches);
                if (!branches.Any(b => b.Ref == "refs/heads/" + checkout))
                {
                    throw new SandboxException(SandboxErrorCodes.GitRefNotFound, $"The bundle has no branch '{checkout}' (it has: {string.Join(", ", branches.Select(b => b.Ref))}).");
                }
                // Objects are checked on the way in; the bundle brings no configuration or hooks, and the user's
                // branches land as remote-tracking refs of 'origin', so the base stays visible (git log origin/main..).
                await _commands.RunAsync(session, ["git", "-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", "--", bundlePath,
                    "+refs/heads/*:refs/remotes/origin/*"], ct).ConfigureAwait(false);
                await _commands.RunAsync(session, ["git", "checkout", "--quiet", "-B", checkout, "refs/remotes/origin/" + checkout, "--"], ct).ConfigureAwait(false);
                if (branch is not null && branch != checkout)
                {
                    await _commands.RunAsync(session, ["git", "checkout", "--quiet", "-b", branch], ct).ConfigureAwait(false);
                }
                await _commands.RunAsync(session, ["git", "config", "user.name", _git.AuthorName], ct).ConfigureAwait(false);
                await _commands.RunAsync(session, ["git", "config", "user.email", _git.AuthorEmail], ct).ConfigureAwait(false);
                await _commands.RunAsync(session, ["sh", "-c", "printf '\\n# kept outputs of the sandbox executions, and the session folder (agent homes)\\n/.outputs/\\n/.sandbox/\\n' >> .git/info/exclude"], ct).ConfigureAwait(false);
                var head = (await _commands.RunAsync(session, ["git", "rev-parse", "HEAD"], ct).ConfigureAwait(false)).Trim();
                session.Git = new GitWorkspace(origin ?? "bundle", checkout, null, head, branch ?? checkout, Shallow: false) { Imported = true };
            }
            catch
            {
                // Nothing half-made: the workspace goes back to having no repository (the bundle stays for a retry).
                await _commands.RunCapturedAsync(session, ["rm", "-rf", "--", ".git"], 1024, CancellationToken.None, check: false).ConfigureAwait(false);
                throw;
            }
            await _commands.RunCapturedAsync(session, ["rm", "-f", "--", bundlePath], 1024, ct, check: false).ConfigureAwait(false);
            await journal.PersistAsync(session, ct).ConfigureAwait(false);
            journal.Record(session, "git_import", $"bundle at {session.Git.BaseCommit[..12]} on {session.Git.Branch}");
            LogImported(_logger, session.Id, session.Git.BaseCommit, session.Git.Branch ?? "");
            return session.ToInfo();
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    /// <summary>Moves an imported session's work onto a newer base: the bundle (a file in the workspace, made on the
    /// caller's machine from the latest <paramref name="gitRef"/>) is fetched, the work branch is rebased onto it
    /// (uncommitted changes are set aside and put back), and the session's base commit becomes the bundle's. A conflict
    /// leaves everything as it was and is reported as <c>git_conflict</c> with the files in conflict.</summary>
    public async Task<SessionInfo> UpdateBaseAsync(string sessionId, string owner, string bundlePath, string gitRef, CancellationToken ct)
    {
        CheckBundlePath(bundlePath);
        if (!GitService.IsRef(gitRef))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "ref must be a branch name (letters, digits, . _ / - +; no '..', no leading '-').");
        }
        var session = _commands.Enter(sessionId, owner, requireGit: true);
        try
        {
            var git = session.Git!;
            if (!git.Imported)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Session {session.Id} was cloned by the server; a newer base comes as a bundle only into a session whose repository came as one.");
            }
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            try
            {
                return await RebaseOntoBundleAsync(session, git, bundlePath, gitRef, ct).ConfigureAwait(false);
            }
            finally
            {
                // Used or refused, the bundle never stays behind as a change in the workspace.
                await _commands.RunCapturedAsync(session, ["rm", "-f", "--", bundlePath], 1024, CancellationToken.None, check: false).ConfigureAwait(false);
            }
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    private async Task<SessionInfo> RebaseOntoBundleAsync(Session session, GitWorkspace git, string bundlePath, string gitRef, CancellationToken ct)
    {
        // The branch as the bundle names it: refs/heads/REF, or a remote-tracking refs/remotes/NAME/REF.
        var heads = await _commands.RunCapturedAsync(session, ["git", "bundle", "list-heads", "--", bundlePath], 1 << 16, ct, check: false).ConfigureAwait(false);
        var source = heads.ExitCode != 0 ? null : heads.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2)
            .Select(p => p[1].Trim()).FirstOrDefault(r => r == "refs/heads/" + gitRef || r.StartsWith("refs/remotes/", StringComparison.Ordinal) && r.EndsWith("/" + gitRef, StringComparison.Ordinal));
        if (source is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{bundlePath} is not a bundle with branch '{gitRef}' (make it with 'git bundle create FILE {gitRef} ^{git.BaseCommit[..12]}').");
        }
        var fetched = await _commands.RunCapturedAsync(session, ["git", "-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", "--", bundlePath,
            $"+{source}:refs/remotes/origin/{gitRef}"], 1 << 16, ct, check: false).ConfigureAwait(false);
        if (fetched.ExitCode != 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{bundlePath} is not a bundle of branch '{gitRef}' that fits this repository: {SafeText.Shorten(fetched.Stdout, 500)}");
        }
        var newBase = (await _commands.RunAsync(session, ["git", "rev-parse", "refs/remotes/origin/" + gitRef], ct).ConfigureAwait(false)).Trim();
        var rebase = await _commands.RunCapturedAsync(session, ["git", "-c", "core.hooksPath=/dev/null", "rebase", "--quiet", "--autostash", "--onto", newBase, git.BaseCommit],
            1 << 16, ct, check: false).ConfigureAwait(false);
        if (rebase.ExitCode != 0)
        {
            var conflicts = (await _commands.RunCapturedAsync(session, ["git", "diff", "--name-only", "--diff-filter=U"], 1 << 16, ct, check: false).ConfigureAwait(false)).Stdout
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
            await _commands.RunCapturedAsync(session, ["git", "rebase", "--abort"], 1 << 16, CancellationToken.None, check: false).ConfigureAwait(false);
            throw new SandboxException(SandboxErrorCodes.GitConflict, conflicts.Length > 0
                ? $"The work does not rebase cleanly onto {gitRef} ({newBase[..12]}): conflicts in {string.Join(", ", conflicts.Take(20))}. Nothing was changed."
                : $"The rebase onto {gitRef} ({newBase[..12]}) failed, and nothing was changed: {SafeText.Shorten(rebase.Stdout, 500)}");
        }
        session.Git = git with { BaseCommit = newBase, Ref = gitRef };
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        journal.Record(session, "git_update", $"rebased onto {gitRef} at {newBase[..12]}");
        return session.ToInfo();
    }

    /// <summary>The work in the session's repository since its base commit: the branch, its commits, what is
    /// uncommitted, a diff stat and the full diff of the workspace (uncommitted changes and new files included) against
    /// the base, cut at <paramref name="maxDiffChars"/>.</summary>
    public async Task<GitReview> ReviewAsync(string sessionId, string owner, int maxDiffChars, CancellationToken ct)
    {
        var session = _commands.Enter(sessionId, owner, requireGit: true);
        try
        {
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            var git = session.Git!;
            var (commits, uncommitted, head) = await _commands.StateAsync(session, git.BaseCommit, ct).ConfigureAwait(false);
            var branch = await CurrentBranchAsync(session, ct).ConfigureAwait(false);
            var limit = Math.Clamp(maxDiffChars, 0, MaxReviewDiffChars);
            var stat = await _commands.RunCapturedAsync(session, ["sh", "-c", WorkspaceDiff + " --stat=120", "sh", git.BaseCommit], 1 << 20, ct).ConfigureAwait(false);
            var (_, diff, truncated) = limit == 0 ? (0, "", false)
                : await _commands.RunCapturedAsync(session, ["sh", "-c", WorkspaceDiff, "sh", git.BaseCommit], limit, ct).ConfigureAwait(false);
            return new GitReview(branch, git.BaseCommit, head, commits, uncommitted, stat.Stdout, diff, truncated);
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    /// <summary>Commits every change in the workspace (new files too) with <paramref name="message"/>; nothing to
    /// commit is not an error (the answer then has no new commit). Returns the state after it.</summary>
    public async Task<GitRunChanges> CommitAsync(string sessionId, string owner, string message, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "message must be a commit message.");
        }
        var session = _commands.Enter(sessionId, owner, requireGit: true);
        try
        {
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            await _commands.CommitIfAskedAsync(session, message, ct).ConfigureAwait(false);
            var (commits, uncommitted, head) = await _commands.StateAsync(session, session.Git!.BaseCommit, ct).ConfigureAwait(false);
            var branch = await CurrentBranchAsync(session, ct).ConfigureAwait(false);
            journal.Record(session, "git_commit", $"{head[..12]} on {branch} ({commits.Count} commits since the base)");
            return new GitRunChanges(branch, session.Git.BaseCommit, head, commits, uncommitted);
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    private static void CheckBundlePath(string bundlePath)
    {
        if (string.IsNullOrEmpty(bundlePath) || bundlePath.Length > 500 || bundlePath.StartsWith('/') || bundlePath.StartsWith('-')
            || bundlePath.Split('/').Any(p => p is "" or "." or ".." || p == ".git") || bundlePath.Contains('\0', StringComparison.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, "path must be the bundle's path relative to /workspace (no '..', not under .git).");
        }
    }

    /// <summary>A diff of the whole workspace against a base (<c>$1</c>): a private copy of the index takes every change,
    /// new files included, so the session's own index is left as it was.</summary>
    private const string WorkspaceDiff =
        "idx=$(mktemp) && trap 'rm -f \"$idx\"' EXIT && cp .git/index \"$idx\" && GIT_INDEX_FILE=\"$idx\" git add -A && GIT_INDEX_FILE=\"$idx\" git diff --cached \"$1\"";

    private async Task<string> CurrentBranchAsync(Session session, CancellationToken ct) =>
        (await _commands.RunCapturedAsync(session, ["git", "symbolic-ref", "--quiet", "--short", "HEAD"], 4096, ct, check: false).ConfigureAwait(false)).Stdout.Trim();

    /// <summary>The branch a bundle is checked out at when none is named: its only branch, else the one its HEAD points at.</summary>
    private static string PickBranch(List<(string Commit, string Ref)> heads)
    {
        var branches = heads.Where(h => h.Ref.StartsWith("refs/heads/", StringComparison.Ordinal)).ToList();
        if (branches.Count == 1)
        {
            return branches[0].Ref["refs/heads/".Length..];
        }
        var head = heads.FirstOrDefault(h => h.Ref == "HEAD");
        var named = branches.Where(b => head.Commit is not null && b.Commit == head.Commit).ToList();
        return named.Count == 1 ? named[0].Ref["refs/heads/".Length..]
            : throw new SandboxException(SandboxErrorCodes.InvalidArgument, branches.Count == 0
                ? "The bundle has no branch (make it with 'git bundle create FILE BRANCH')."
                : $"The bundle has several branches ({string.Join(", ", branches.Select(b => b.Ref))}): name the one to check out with ref.");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: imported a bundle at {Commit} on {Branch}")]
    private static partial void LogImported(ILogger logger, string sessionId, string commit, string branch);
}
