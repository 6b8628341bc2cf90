using System.Text;
using Sandbox.Git;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of git sessions: take an agent's work out of a session cloned from a repository.</summary>
[McpServerToolType]
public sealed class GitTools(GitService git, Sandbox.Links.LinkService links, Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server,
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
