namespace Sandbox.Client.Contracts;

/// <summary>A repository to clone into a new session (through the server's git helper; credentials by name only).</summary>
public sealed record GitRequestDto
{
    /// <summary>The repository's <c>https://</c> URL, without credentials.</summary>
    public required string Url { get; init; }
    /// <summary>A branch, tag or full commit id; omitted: the default branch.</summary>
    public string? Ref { get; init; }
    /// <summary>The name of an operator credential for a private repository.</summary>
    public string? Credentials { get; init; }
    /// <summary>Only the last commit.</summary>
    public bool Shallow { get; init; }
    /// <summary>Submodules too (same host only).</summary>
    public bool Submodules { get; init; }
}

/// <summary>The repository a session was cloned from.</summary>
/// <param name="Url">Repository URL.</param>
/// <param name="Ref">The ref asked for.</param>
/// <param name="Credentials">The credential's name.</param>
/// <param name="BaseCommit">The commit cloned: exports and pushes are relative to it.</param>
/// <param name="Branch">The branch checked out by the clone.</param>
/// <param name="Shallow">Whether the history is partial.</param>
public sealed record GitWorkspaceDto(string Url, string? Ref, string? Credentials, string BaseCommit, string? Branch, bool Shallow)
{
    /// <summary>Whether the repository came as a bundle from the caller's machine (then pushes go from there).</summary>
    public bool Imported { get; init; }
}

/// <summary>Body of an import-bundle request: a git bundle already in the workspace becomes its repository.</summary>
public sealed record ImportGitBundleRequest
{
    /// <summary>The bundle's path relative to <c>/workspace</c> (upload it first); it is removed once imported.</summary>
    public required string Path { get; init; }
    /// <summary>The bundle's branch to check out; omitted: its only branch, or the one its HEAD names.</summary>
    public string? Ref { get; init; }
    /// <summary>A new branch to start there (the task's branch); omitted: work on <see cref="Ref"/>.</summary>
    public string? Branch { get; init; }
    /// <summary>Where the repository came from (its remote URL or path on the caller's machine), for the record only.</summary>
    public string? Origin { get; init; }
}

/// <summary>Body of an update-base request: a bundle of the base branch's latest state (made where the repository
/// lives, uploaded first) that the session's work is rebased onto.</summary>
public sealed record UpdateGitBaseRequest
{
    /// <summary>The bundle's path relative to <c>/workspace</c>; it is removed once used.</summary>
    public required string Path { get; init; }
    /// <summary>The base branch in the bundle.</summary>
    public required string Ref { get; init; }
}

/// <summary>A review of the work in a session's repository since its base commit.</summary>
/// <param name="Branch">The branch checked out (empty when detached).</param>
/// <param name="BaseCommit">The base commit.</param>
/// <param name="HeadCommit">The last commit.</param>
/// <param name="Commits">Commits since the base, oldest first.</param>
/// <param name="Uncommitted">Changes not committed (<c>git status --porcelain</c> lines).</param>
/// <param name="DiffStat">The diff stat of the workspace against the base.</param>
/// <param name="Diff">The diff of the workspace (committed or not, new files included) against the base.</param>
/// <param name="Truncated">Whether the diff was cut at the limit asked for.</param>
public sealed record GitReviewDto(string Branch, string BaseCommit, string HeadCommit, IReadOnlyList<GitCommitDto> Commits, IReadOnlyList<string> Uncommitted,
    string DiffStat, string Diff, bool Truncated);

/// <summary>Body of a commit request.</summary>
public sealed record CommitChangesRequest
{
    /// <summary>The commit message.</summary>
    public required string Message { get; init; }
}

/// <summary>One commit.</summary>
/// <param name="Id">Commit id.</param>
/// <param name="Subject">First line of its message.</param>
/// <param name="Author">Author name.</param>
/// <param name="Date">Author date.</param>
public sealed record GitCommitDto(string Id, string Subject, string Author, DateTimeOffset Date);

/// <summary>An agent run's branch, commits and uncommitted changes in a git session.</summary>
/// <param name="Branch">The run's branch.</param>
/// <param name="BaseCommit">Where it started.</param>
/// <param name="HeadCommit">Its last commit.</param>
/// <param name="Commits">The run's commits, oldest first.</param>
/// <param name="Uncommitted">Changes left uncommitted (<c>git status --porcelain</c> lines).</param>
public sealed record GitRunChangesDto(string Branch, string BaseCommit, string HeadCommit, IReadOnlyList<GitCommitDto> Commits, IReadOnlyList<string> Uncommitted);

/// <summary>Body of an export-changes request.</summary>
public sealed record ExportChangesRequest
{
    /// <summary><c>patch</c> (default; for <c>git am</c>) or <c>bundle</c> (for <c>git fetch</c>).</summary>
    public string? Format { get; init; }
    /// <summary>When given, uncommitted changes are committed with this message first.</summary>
    public string? CommitMessage { get; init; }
}

/// <summary>An export of a session's commits since its base commit.</summary>
public sealed record GitExportDto
{
    /// <summary><c>patch</c> or <c>bundle</c>.</summary>
    public required string Format { get; init; }
    /// <summary>The file in the workspace (download it, or ask for a link).</summary>
    public required string Path { get; init; }
    /// <summary>Its size in bytes.</summary>
    public long Size { get; init; }
    /// <summary>Its SHA-256, hex.</summary>
    public required string Sha256 { get; init; }
    /// <summary>The commit it starts from.</summary>
    public required string BaseCommit { get; init; }
    /// <summary>Its last commit.</summary>
    public required string HeadCommit { get; init; }
    /// <summary>The branch (in a bundle, the ref to fetch).</summary>
    public string? Branch { get; init; }
    /// <summary>Its commits.</summary>
    public IReadOnlyList<GitCommitDto> Commits { get; init; } = [];
    /// <summary>Changes not in it because they are uncommitted.</summary>
    public IReadOnlyList<string> Uncommitted { get; init; } = [];
    /// <summary>The patch text, when small enough.</summary>
    public string? Content { get; init; }
    /// <summary>The bundle, base64, when small enough.</summary>
    public string? ContentBase64 { get; init; }
    /// <summary>A signed download link (over HTTP, when the server has one to give).</summary>
    public string? Url { get; init; }
}

/// <summary>Body of a push-changes request.</summary>
public sealed record PushChangesRequest
{
    /// <summary>The branch to push to (protected branches are refused).</summary>
    public required string RemoteBranch { get; init; }
    /// <summary>Overwrite the remote branch even when it is not a fast-forward.</summary>
    public bool Force { get; init; }
    /// <summary>When given, uncommitted changes are committed with this message first.</summary>
    public string? CommitMessage { get; init; }
}

/// <summary>The outcome of a push.</summary>
/// <param name="RemoteBranch">The branch pushed to.</param>
/// <param name="Commit">The commit it now points to.</param>
/// <param name="Url">The repository.</param>
/// <param name="Commits">Commits since the base commit.</param>
/// <param name="Uncommitted">Changes left out because uncommitted.</param>
public sealed record GitPushDto(string RemoteBranch, string Commit, string Url, IReadOnlyList<GitCommitDto> Commits, IReadOnlyList<string> Uncommitted);
