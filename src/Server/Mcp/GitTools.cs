using System.Text;
using Sandbox.Git;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of git sessions: take an agent's work out of a session cloned from a repository.</summary>
[McpServerToolType]
public sealed class GitTools(GitService git, GitWorkService work, Sandbox.Links.LinkService links, Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server,
    IHttpContextAccessor http, ILogger<GitTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>export_changes.</summary>
    [McpServerTool(Name = "export_changes", Title = "Export a git session's commits", Destructive = false, OpenWorld = false)]
    [Description("For a session created with git_url: exports its commits since the clone as a patch (apply with 'git am') or a bundle (fetch with " +
        "'git fetch FILE BRANCH'). Small exports come back inline; every export is kept under .git/sandbox-exports/ and (over HTTP) linked for " +
        "download. Uncommitted changes are listed and left out unless commit_message is given, which commits them first.")]
    public Task<CallToolResult> ExportChanges(
        [Description("The session_id (a session created with git_url).")] string session_id,
        [Description("'patch' (default) or 'bundle'.")] string format = "patch",
        [Description("Commit uncommitted changes with this message first (optional).")] string? commit_message = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var export = await git.ExportAsync(session_id, Owner, format, commit_message, cancellationToken);
        var url = Request is null ? null : PublicLinks.ExportLink(links, session_id, Owner, export.Path, Request, server.Value);
        var dto = export.ToDto(url);
        var text = new StringBuilder($"{dto.Format} of {dto.Commits.Count} commits since {dto.BaseCommit[..12]} ({dto.Size} bytes, sha256 {dto.Sha256}) at /workspace/{dto.Path}");
        if (url is not null)
        {
            text.Append($"; download: {url}");
        }
        if (dto.Uncommitted.Count > 0)
        {
            text.Append($"\nNot included (uncommitted): {string.Join(", ", dto.Uncommitted.Take(20))}");
        }
        if (dto.Content is { } patch)
        {
            text.Append("\n\n").Append(patch);
        }
        return McpToolResults.Ok(text.ToString(), new { export = dto with { Content = null } });
    });

    /// <summary>import_git_bundle.</summary>
    [McpServerTool(Name = "import_git_bundle", Title = "Make an uploaded git bundle the session's repository", Destructive = false, OpenWorld = false)]
    [Description("For a repository the server cannot reach: upload a bundle ('git bundle create repo.bundle BRANCH') with upload_file into a new session " +
        "(image 'agent'), then this makes it the session's repository: the branch is checked out, optionally a new branch started for the work, and the " +
        "bundle file removed. review_changes, commit_changes and export_changes (format 'bundle', to fetch the work back) then work as for git_url sessions; " +
        "pushes go from the caller's machine.")]
    public Task<CallToolResult> ImportGitBundle(
        [Description("The session_id.")] string session_id,
        [Description("The bundle's path relative to /workspace.")] string path,
        [Description("The bundle's branch to check out (optional: its only branch, or the one its HEAD names).")] string? @ref = null,
        [Description("A new branch to start for the work (optional).")] string? branch = null,
        [Description("Where the repository came from (its remote URL), for the record (optional).")] string? origin = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await work.ImportBundleAsync(session_id, Owner, path, @ref, branch, origin, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id} now has the bundle's repository at {s.Git!.BaseCommit[..12]} on branch {s.Git.Branch}.", new { session = s });
    });

    /// <summary>update_git_base.</summary>
    [McpServerTool(Name = "update_git_base", Title = "Rebase a git session's work onto a newer base", Destructive = false, OpenWorld = false)]
    [Description("For a session whose repository came as a bundle (import_git_bundle): upload a bundle of the base branch's latest state " +
        "('git bundle create base.bundle main'), then this rebases the session's work onto it (uncommitted changes are kept). A conflict changes " +
        "nothing and fails with git_conflict, naming the files.")]
    public Task<CallToolResult> UpdateGitBase(
        [Description("The session_id.")] string session_id,
        [Description("The bundle's path relative to /workspace.")] string path,
        [Description("The base branch in the bundle, e.g. 'main'.")] string @ref,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await work.UpdateBaseAsync(session_id, Owner, path, @ref, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id}'s work is now on {@ref} at {s.Git!.BaseCommit[..12]}.", new { session = s });
    });

    /// <summary>review_changes.</summary>
    [McpServerTool(Name = "review_changes", Title = "Review a git session's work", ReadOnly = true, Destructive = false, OpenWorld = false)]
    [Description("For a git session: the work since its base commit: branch, commits, uncommitted changes, a diff stat and the diff of the whole workspace " +
        "(uncommitted changes and new files included), cut at max_diff_chars.")]
    public Task<CallToolResult> ReviewChanges(
        [Description("The session_id.")] string session_id,
        [Description("The longest diff to return, in characters (default 200000).")] int max_diff_chars = 200_000,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var r = (await work.ReviewAsync(session_id, Owner, max_diff_chars, cancellationToken)).ToDto();
        var text = new StringBuilder($"Branch {r.Branch}: {r.Commits.Count} commits since {r.BaseCommit[..12]}, {r.Uncommitted.Count} uncommitted changes.\n");
        text.Append(r.DiffStat).Append('\n').Append(r.Diff);
        if (r.Truncated)
        {
            text.Append("\n[diff cut at ").Append(max_diff_chars).Append(" characters]");
        }
        return McpToolResults.Ok(text.ToString(), new { review = r with { Diff = "" } });
    });

    /// <summary>commit_changes.</summary>
    [McpServerTool(Name = "commit_changes", Title = "Commit a git session's changes", Destructive = false, OpenWorld = false)]
    [Description("For a git session: commits every change in the workspace (new files too) with the message. Nothing to commit is not an error.")]
    public Task<CallToolResult> CommitChanges(
        [Description("The session_id.")] string session_id,
        [Description("The commit message.")] string message,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var c = (await work.CommitAsync(session_id, Owner, message, cancellationToken)).ToDto()!;
        return McpToolResults.Ok($"{c.Branch} is at {c.HeadCommit[..12]}: {c.Commits.Count} commits since {c.BaseCommit[..12]}"
            + (c.Uncommitted.Count > 0 ? $"; still uncommitted: {string.Join(", ", c.Uncommitted.Take(20))}" : "; nothing uncommitted") + ".", new { changes = c });
    });

    /// <summary>push_changes.</summary>
    [McpServerTool(Name = "push_changes", Title = "Push a git session's work", Destructive = true, OpenWorld = true)]
    [Description("For a session created with git_url: pushes the session's current commit to remote_branch of the repository it came from, with " +
        "the operator's credentials (they never enter the session). Protected branches (such as main) are refused: push to a new branch and open a " +
        "pull request from it.")]
    public Task<CallToolResult> PushChanges(
        [Description("The session_id (a session created with git_url).")] string session_id,
        [Description("The branch to push to, e.g. 'agent/fix-tests'.")] string remote_branch,
        [Description("Overwrite the remote branch even if that is not a fast-forward.")] bool force = false,
        [Description("Commit uncommitted changes with this message first (optional).")] string? commit_message = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var dto = (await git.PushAsync(session_id, Owner, remote_branch, force, commit_message, cancellationToken)).ToDto();
        var text = $"Pushed {dto.Commit[..12]} to {dto.RemoteBranch} of {dto.Url} ({dto.Commits.Count} commits since the clone)."
                   + (dto.Uncommitted.Count > 0 ? $" Left out (uncommitted): {string.Join(", ", dto.Uncommitted.Take(20))}" : "");
        return McpToolResults.Ok(text, new { push = dto });
    });
}
