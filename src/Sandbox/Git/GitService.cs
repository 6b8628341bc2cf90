using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Egress;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Git;

/// <summary>
/// Git workspaces: sessions cloned from a repository (through the git helper, the one way git reaches a network), a
/// branch per agent run, exports of the session's commits as a patch or a bundle, and pushes with the operator's
/// credentials. Credentials are names the operator configured; their values go to the helper's proxy only.
/// </summary>
public sealed partial class GitService(SessionRegistry registry, IGitHelper helper, SessionJournal journal, IOptions<SandboxOptions> options,
    IOptions<GitOptions> git, TimeProvider time, ILogger<GitService> logger)
{
    private readonly IGitHelper _helper = helper;
    private readonly SandboxOptions _options = options.Value;
    private readonly GitOptions _git = git.Value;
    private readonly ILogger<GitService> _logger = logger;
    private readonly IReadOnlyList<EgressPattern> _hosts = git.Value.Hosts.Select(EgressPattern.Parse).ToList();
    private readonly GitCommands _commands = new(registry, options.Value, time);

    /// <summary>Where exports are kept in a workspace (inside <c>.git</c>, so an export is never a change itself).</summary>
    public const string ExportDirectory = ".git/sandbox-exports";

    /// <summary>A checked clone request.</summary>
    internal sealed record CloneTarget(GitRequest Request, Uri Url, int Port, GitCredentialOptions? Credential);

    /// <summary>Checks a clone request before anything is created: the URL, the host against <c>Sandbox:Git:Hosts</c>,
    /// the credential's name and host, the ref. Throws <c>invalid_argument</c> or <c>forbidden</c>.</summary>
    internal CloneTarget Validate(GitRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http") || request.Url.Length > 2000)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "git.url must be an https:// (or http://) repository URL, such as https://github.com/owner/repo.git.");
        }
        if (url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "git.url must not carry a user, password, query or fragment: name an operator credential with git.credentials instead.");
        }
        var host = url.IdnHost.ToLowerInvariant();
        if (url.HostNameType != UriHostNameType.Dns || !EgressPattern.IsHostName(host))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "git.url must name its host (an IP address is not accepted).");
        }
        if (!_hosts.Any(p => p.Matches(host, url.Port)))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, _hosts.Count == 0
                ? "Git sessions are disabled on this server (Sandbox:Git:Hosts is empty)."
                : $"The host '{host}:{url.Port}' is not one this server clones from (Sandbox:Git:Hosts).");
        }
        if (request.Ref is { } gitRef && !IsRef(gitRef))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "git.ref must be a branch, tag or full commit id (letters, digits, . _ / - +; no '..', no leading '-').");
        }
        GitCredentialOptions? credential = null;
        if (request.Credentials is { } name)
        {
            if (!_git.Credentials.TryGetValue(name, out credential))
            {
                throw new SandboxException(SandboxErrorCodes.Forbidden, $"There is no git credential named '{SafeText.Shorten(name, 80)}' on this server (Sandbox:Git:Credentials).");
            }
            if (!string.Equals(credential.Host, host, StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.Forbidden, $"The git credential '{name}' is for another host than '{host}'.");
            }
        }
        return new CloneTarget(request, url, url.Port, credential);
    }

    /// <summary>Clones the repository into a new session's (empty) workspace through the git helper.</summary>
    internal async Task<GitWorkspace> CloneAsync(Session session, CloneTarget target, CancellationToken ct)
    {
        var request = target.Request;
        var outcome = await _helper.RunAsync(new GitHelperRun(session.Id, HelperImage(), target.Url.IdnHost, target.Port, target.Credential, Writable: true,
            new GitCloneRequest(target.Url.AbsoluteUri, request.Ref, request.Shallow ? 1 : 0, request.Submodules, _git.AuthorName, _git.AuthorEmail),
            _git.Timeout), ct).ConfigureAwait(false);
        ThrowIfFailed(outcome, "Cloning " + target.Url.AbsoluteUri);
        var workspace = new GitWorkspace(target.Url.AbsoluteUri, request.Ref, request.Credentials, Str(outcome, "head")!, Str(outcome, "branch"), Bool(outcome, "shallow"));
        LogCloned(_logger, session.Id, workspace.Url, workspace.BaseCommit, Int(outcome, "commits") ?? 0);
        return workspace;
    }

    /// <summary>Starts an agent run's branch (<c>sandbox/&lt;run-id&gt;</c> or <paramref name="name"/>) at the current
    /// commit. Returns the branch and its base.</summary>
    internal async Task<(string Branch, string Base)> BeginRunAsync(Session session, string runId, string? name, CancellationToken ct)
    {
        var branch = name ?? _git.BranchPrefix + runId;
        var head = (await _commands.RunAsync(session, ["git", "rev-parse", "HEAD"], ct).ConfigureAwait(false)).Trim();
        await _commands.RunAsync(session, ["git", "checkout", "--quiet", "-b", branch], ct).ConfigureAwait(false);
        return (branch, head);
    }

    /// <summary>A continued run goes on where the run it continues left off: on that run's branch, against its base (so
    /// its changes are the conversation's, from the start).</summary>
    internal async Task<(string Branch, string Base)> ResumeRunAsync(Session session, string branch, string baseCommit, CancellationToken ct)
    {
        await _commands.RunAsync(session, ["git", "checkout", "--quiet", branch, "--"], ct).ConfigureAwait(false);
        return (branch, baseCommit);
    }

    /// <summary>A run's commits, what it left uncommitted, and the diff of the workspace against its base.</summary>
    internal async Task<(GitRunChanges Changes, string Diff, bool Truncated)> CollectRunAsync(Session session, string branch, string baseCommit, int maxDiffChars, CancellationToken ct)
    {
        var (commits, uncommitted, head) = await _commands.StateAsync(session, baseCommit, ct).ConfigureAwait(false);
        var diff = await _commands.RunCapturedAsync(session, ["sh", "-c",
            "idx=$(mktemp) && trap 'rm -f \"$idx\"' EXIT && cp .git/index \"$idx\" && GIT_INDEX_FILE=\"$idx\" git add -A && GIT_INDEX_FILE=\"$idx\" git diff --cached \"$1\"",
            "sh", baseCommit], maxDiffChars, ct).ConfigureAwait(false);
        return (new GitRunChanges(branch, baseCommit, head, commits, uncommitted), diff.Stdout, diff.Truncated);
    }

    /// <summary>Exports the session's commits since its base commit as a patch (mbox, for <c>git am</c>) or a bundle
    /// (for <c>git fetch</c>), kept under <see cref="ExportDirectory"/>. With <paramref name="commitMessage"/>,
    /// uncommitted changes are committed first.</summary>
    public async Task<GitExport> ExportAsync(string sessionId, string owner, string format, string? commitMessage, CancellationToken ct)
    {
        if (format is not ("patch" or "bundle"))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "format must be 'patch' or 'bundle'.");
        }
        var (session, git) = Enter(sessionId, owner);
        try
        {
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            await _commands.CommitIfAskedAsync(session, commitMessage, ct).ConfigureAwait(false);
            var (commits, uncommitted, head) = await _commands.StateAsync(session, git.BaseCommit, ct).ConfigureAwait(false);
            var branch = (await _commands.RunCapturedAsync(session, ["git", "symbolic-ref", "--quiet", "--short", "HEAD"], 4096, ct, check: false).ConfigureAwait(false)).Stdout.Trim();
            var stamp = time.GetUtcNow().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
            var path = $"{ExportDirectory}/{stamp}-{head[..12]}.{format}";
            await _commands.RunAsync(session, ["mkdir", "-p", ExportDirectory], ct).ConfigureAwait(false);
            if (format == "patch")
            {
                await _commands.RunAsync(session, ["sh", "-c", "git format-patch --stdout --binary \"$1..HEAD\" > \"$2\"", "sh", git.BaseCommit, path], ct).ConfigureAwait(false);
            }
            else if (commits.Count == 0)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "There are no commits since the base commit to bundle"
                    + (uncommitted.Count > 0 ? "; the changes are uncommitted: pass a commit message to commit them first." : "."));
            }
            else
            {
                // A named ref, so the bundle can be fetched by name: the current branch, or a detached head's own name.
                var refName = branch.Length > 0 ? branch : "sandbox/export";
                if (branch.Length == 0)
                {
                    await _commands.RunAsync(session, ["git", "branch", "--force", refName, "HEAD"], ct).ConfigureAwait(false);
                }
                await _commands.RunAsync(session, ["git", "bundle", "create", "--quiet", path, $"{git.BaseCommit}..{refName}"], ct).ConfigureAwait(false);
                branch = refName;
            }
            // wc, not stat: gVisor's older releases refuse the statx call coreutils' stat makes.
            var counted = (await _commands.RunAsync(session, ["wc", "-c", path], ct).ConfigureAwait(false)).Trim().Split(' ', 2)[0];
            if (!long.TryParse(counted, CultureInfo.InvariantCulture, out var size))
            {
                throw new SandboxException(SandboxErrorCodes.GitFailed, $"The export at {path} could not be measured: '{SafeText.Shorten(counted, 100)}'.");
            }
            var sha256 = (await _commands.RunAsync(session, ["sha256sum", path], ct).ConfigureAwait(false)).Split(' ', 2)[0];
            string? content = null, base64 = null;
            if (size <= _git.MaxInlineExportBytes)
            {
                var read = await _commands.RunCapturedAsync(session, format == "patch" ? ["cat", path] : ["base64", "-w", "0", path], _git.MaxInlineExportBytes * 2 + 16, ct).ConfigureAwait(false);
                if (format == "patch")
                {
                    content = read.Stdout;
                }
                else
                {
                    base64 = read.Stdout.Trim();
                }
            }
            journal.Record(session, "git_export", $"{format} of {commits.Count} commits, {size} bytes at {path}");
            return new GitExport(format, path, size, sha256, git.BaseCommit, head, branch.Length == 0 ? null : branch, commits, uncommitted, content, base64);
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    /// <summary>Pushes the session's current commit to <paramref name="remoteBranch"/> of the repository it was cloned
    /// from, through the helper with the session's credential. Protected branches (<c>Sandbox:Git:ProtectedBranches</c>)
    /// are refused before anything is sent.</summary>
    public async Task<GitPushResult> PushAsync(string sessionId, string owner, string remoteBranch, bool force, string? commitMessage, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(remoteBranch) || !IsRef(remoteBranch))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "remote_branch must be a branch name (letters, digits, . _ / - +; no '..', no leading '-').");
        }
        if (_git.IsProtected(remoteBranch))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"'{remoteBranch}' is a protected branch on this server (Sandbox:Git:ProtectedBranches: {string.Join(", ", _git.ProtectedBranches)}). Push to a new branch and open a pull request from it.");
        }
        var (session, git) = Enter(sessionId, owner);
        try
        {
            if (git.Imported)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Session {session.Id}'s repository came as a bundle from the caller's machine, "
                    + "so the server has no remote for it: push from that machine (export_changes with format bundle gives the commits; 'sandbox push' does both).");
            }
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            await _commands.CommitIfAskedAsync(session, commitMessage, ct).ConfigureAwait(false);
            var (commits, uncommitted, head) = await _commands.StateAsync(session, git.BaseCommit, ct).ConfigureAwait(false);
            var target = Validate(new GitRequest { Url = git.Url, Credentials = git.Credentials });
            var outcome = await _helper.RunAsync(new GitHelperRun(session.Id, HelperImage(), target.Url.IdnHost, target.Port, target.Credential, Writable: false,
                new GitPushRequest(git.Url, head, remoteBranch, force),
                _git.Timeout), ct).ConfigureAwait(false);
            ThrowIfFailed(outcome, $"Pushing to {remoteBranch} of {git.Url}");
            journal.Record(session, "git_push", $"{head[..12]} to {remoteBranch} ({commits.Count} commits)");
            LogPushed(_logger, session.Id, git.Url, remoteBranch, head);
            return new GitPushResult(remoteBranch, head, git.Url, commits, uncommitted);
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    private (Session Session, GitWorkspace Git) Enter(string sessionId, string owner)
    {
        var session = _commands.Enter(sessionId, owner, requireGit: true);
        return (session, session.Git!);
    }

    private string HelperImage() => string.IsNullOrWhiteSpace(_git.HelperImage)
        ? _options.Images.GetValueOrDefault("agent") ?? throw new SandboxException(SandboxErrorCodes.Internal, "No git helper image: set Sandbox:Git:HelperImage.")
        : _git.HelperImage;

    private static void ThrowIfFailed(JsonElement outcome, string what)
    {
        if (Bool(outcome, "ok"))
        {
            return;
        }
        var code = Str(outcome, "code") ?? SandboxErrorCodes.GitFailed;
        var message = SafeText.Shorten(Str(outcome, "message") ?? "no reason given", 1500);
        throw new SandboxException(code, code switch
        {
            SandboxErrorCodes.GitAuthFailed => $"{what} failed: the host refused the credentials (or needs some: name one with git.credentials). git said: {message}",
            SandboxErrorCodes.GitRefNotFound => $"{what} failed: no such branch, tag or commit. git said: {message}",
            SandboxErrorCodes.LimitExceeded => $"{what} failed: the repository does not fit the session's workspace (limits.workspace_mb). git said: {message}",
            _ => $"{what} failed: {message}",
        });
    }

    /// <summary>A branch, tag or commit name git accepts and nothing can read as an option or a range.</summary>
    internal static bool IsRef(string name) => name.Length is > 0 and <= 200 && RefName().IsMatch(name) && !name.Contains("..", StringComparison.Ordinal)
        && !name.EndsWith(".lock", StringComparison.Ordinal) && !name.EndsWith('/') && !name.Contains("//", StringComparison.Ordinal) && !name.EndsWith('.');

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._/+-]*$")]
    private static partial Regex RefName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: cloned {Url} at {Commit} ({Commits} commits)")]
    private static partial void LogCloned(ILogger logger, string sessionId, string url, string commit, int commits);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: pushed {Commit} to {Branch} of {Url}")]
    private static partial void LogPushed(ILogger logger, string sessionId, string url, string branch, string commit);
}
