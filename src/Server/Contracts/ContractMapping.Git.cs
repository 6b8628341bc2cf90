using Sandbox.Client.Contracts;

namespace Sandbox.Server.Contracts;

/// <summary>Git workspaces, commits, exports and pushes between the wire and the engine.</summary>
internal static partial class ContractMapping
{
    public static GitWorkspaceDto? ToDto(this Sandbox.Git.GitWorkspace? g) =>
        g is null ? null : new(g.Url, g.Ref, g.Credentials, g.BaseCommit, g.Branch, g.Shallow) { Imported = g.Imported };

    public static GitReviewDto ToDto(this Sandbox.Git.GitReview r) =>
        new(r.Branch, r.BaseCommit, r.HeadCommit, r.Commits.Select(ToDto).ToList(), r.Uncommitted, r.DiffStat, r.Diff, r.Truncated);

    public static GitCommitDto ToDto(this Sandbox.Git.GitCommit c) => new(c.Id, c.Subject, c.Author, c.Date);

    public static GitRunChangesDto? ToDto(this Sandbox.Git.GitRunChanges? g) =>
        g is null ? null : new(g.Branch, g.BaseCommit, g.HeadCommit, g.Commits.Select(ToDto).ToList(), g.Uncommitted);

    public static GitExportDto ToDto(this Sandbox.Git.GitExport e, string? url) => new()
    {
        Format = e.Format, Path = e.Path, Size = e.Size, Sha256 = e.Sha256, BaseCommit = e.BaseCommit, HeadCommit = e.HeadCommit, Branch = e.Branch,
        Commits = e.Commits.Select(ToDto).ToList(), Uncommitted = e.Uncommitted, Content = e.Content, ContentBase64 = e.ContentBase64, Url = url,
    };

    public static GitPushDto ToDto(this Sandbox.Git.GitPushResult p) => new(p.RemoteBranch, p.Commit, p.Url, p.Commits.Select(ToDto).ToList(), p.Uncommitted);
}
