namespace Sandbox.Git;

/// <summary>A repository to clone into a new session's workspace.</summary>
public sealed record GitRequest
{
    /// <summary>The repository's <c>https://</c> (or <c>http://</c>) URL, without credentials.</summary>
    public required string Url { get; init; }

    /// <summary>A branch, a tag or a full commit id; null for the repository's default branch.</summary>
    public string? Ref { get; init; }

    /// <summary>The name of an operator credential (<c>Sandbox:Git:Credentials</c>) for a private repository.</summary>
    public string? Credentials { get; init; }

    /// <summary>Clone only the last commit (<c>--depth 1</c>).</summary>
    public bool Shallow { get; init; }

    /// <summary>Clone submodules too (off by default; they must live on the same host).</summary>
    public bool Submodules { get; init; }
}

/// <summary>The repository a session's workspace was cloned from (kept with the session; no credential value).</summary>
/// <param name="Url">The repository URL.</param>
/// <param name="Ref">The ref asked for, if any.</param>
/// <param name="Credentials">The credential's name, if any.</param>
/// <param name="BaseCommit">The commit the workspace was cloned at: exports and pushes are relative to it.</param>
/// <param name="Branch">The branch checked out by the clone (null for a tag or commit).</param>
/// <param name="Shallow">Whether the clone has only part of the history.</param>
public sealed record GitWorkspace(string Url, string? Ref, string? Credentials, string BaseCommit, string? Branch, bool Shallow)
{
    /// <summary>Whether the repository came as a bundle from the caller's machine (then <see cref="Url"/> is only what
    /// the caller said it came from, and pushes go from the caller's machine, not from the server).</summary>
    public bool Imported { get; init; }
}

/// <summary>One commit.</summary>
/// <param name="Id">Full commit id.</param>
/// <param name="Subject">First line of its message.</param>
/// <param name="Author">Author name.</param>
/// <param name="Date">Author date.</param>
public sealed record GitCommit(string Id, string Subject, string Author, DateTimeOffset Date);

/// <summary>What an agent run did to a git workspace: its branch, the commits it made and what it left uncommitted.</summary>
/// <param name="Branch">The branch the run worked on.</param>
/// <param name="BaseCommit">Where the branch started.</param>
/// <param name="HeadCommit">The branch's last commit after the run.</param>
/// <param name="Commits">Commits made by the run, oldest first.</param>
/// <param name="Uncommitted">Paths changed but not committed (<c>git status</c> lines such as <c> M file</c>, <c>?? new</c>).</param>
public sealed record GitRunChanges(string Branch, string BaseCommit, string HeadCommit, IReadOnlyList<GitCommit> Commits, IReadOnlyList<string> Uncommitted);

/// <summary>A review of the work in a session's repository since its base commit.</summary>
/// <param name="Branch">The branch checked out (empty when detached).</param>
/// <param name="BaseCommit">The base commit.</param>
/// <param name="HeadCommit">The last commit.</param>
/// <param name="Commits">Commits since the base, oldest first.</param>
/// <param name="Uncommitted">Changes not committed (<c>git status --porcelain</c> lines).</param>
/// <param name="DiffStat">The diff stat of the workspace against the base (<c>git diff --stat</c>).</param>
/// <param name="Diff">The diff of the workspace (committed or not, new files included) against the base.</param>
/// <param name="Truncated">Whether the diff was cut at the limit asked for.</param>
public sealed record GitReview(string Branch, string BaseCommit, string HeadCommit, IReadOnlyList<GitCommit> Commits, IReadOnlyList<string> Uncommitted,
    string DiffStat, string Diff, bool Truncated);

/// <summary>An export of a session's commits since its base commit.</summary>
/// <param name="Format"><c>patch</c> (an mbox for <c>git am</c>) or <c>bundle</c> (for <c>git fetch</c>/<c>git pull</c>).</param>
/// <param name="Path">Where the file is kept in the workspace (under <c>.git/</c>, so it is never a change itself).</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="Sha256">Its SHA-256, hex.</param>
/// <param name="BaseCommit">The commit it starts from (the clone's).</param>
/// <param name="HeadCommit">The last commit in it.</param>
/// <param name="Branch">The branch it was made from (in a bundle, the ref to fetch).</param>
/// <param name="Commits">Its commits, oldest first.</param>
/// <param name="Uncommitted">Changes not in it because they are not committed (commit them first, or pass a commit message).</param>
/// <param name="Content">The patch text when it fits the inline limit (patch format only).</param>
/// <param name="ContentBase64">The bundle bytes, base64, when they fit the inline limit (bundle format only).</param>
public sealed record GitExport(string Format, string Path, long Size, string Sha256, string BaseCommit, string HeadCommit, string? Branch,
    IReadOnlyList<GitCommit> Commits, IReadOnlyList<string> Uncommitted, string? Content, string? ContentBase64);

/// <summary>A push of a session's work to the repository it came from.</summary>
/// <param name="RemoteBranch">The branch pushed to.</param>
/// <param name="Commit">The commit the remote branch now points to.</param>
/// <param name="Url">The repository.</param>
/// <param name="Commits">Commits since the base commit that the push carried.</param>
/// <param name="Uncommitted">Changes left out because they are not committed.</param>
public sealed record GitPushResult(string RemoteBranch, string Commit, string Url, IReadOnlyList<GitCommit> Commits, IReadOnlyList<string> Uncommitted);

/// <summary>What the git helper is asked to do (the helper gets it as one JSON line on its stdin).</summary>
/// <param name="SessionId">The session whose workspace the helper mounts.</param>
/// <param name="Image">The helper's image.</param>
/// <param name="Host">The repository's host name.</param>
/// <param name="Port">Its port.</param>
/// <param name="Credential">The credential its proxy adds for that host, if any.</param>
/// <param name="Writable">Whether the workspace is mounted writable (clone) or read-only (push).</param>
/// <param name="Request">The helper's request (without the proxy and CA fields, which the implementation adds).</param>
/// <param name="Timeout">How long it may take.</param>
public sealed record GitHelperRun(string SessionId, string Image, string Host, int Port, GitCredentialOptions? Credential, bool Writable,
    GitHelperRequest Request, TimeSpan Timeout);

/// <summary>The git helper: a short-lived container that reaches one repository host. Implemented per backend.</summary>
public interface IGitHelper
{
    /// <summary>Runs the helper to completion and returns its JSON outcome line (an object with <c>ok</c>).</summary>
    Task<System.Text.Json.JsonElement> RunAsync(GitHelperRun run, CancellationToken ct);
}
