using Sandbox.Sessions;
using Sandbox.Snapshots;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of snapshots and forks.</summary>
[McpServerToolType]
public sealed class SnapshotTools(SnapshotService snapshots, SessionService sessions, IHttpContextAccessor http, ILogger<SnapshotTools> logger) : SandboxToolsBase(http, logger)
{
    private const string Fresh = "Python variables are not copied: the interpreter starts fresh (files, installed packages and the workspace are all there).";

    /// <summary>snapshot_session.</summary>
    [McpServerTool(Name = "snapshot_session", Title = "Save a session's workspace", Destructive = false, OpenWorld = false)]
    [Description("Saves the session's whole /workspace (files and installed packages) as a snapshot that outlives the session and server restarts. " +
        "Start new sessions from it with create_session(from_snapshot).")]
    public Task<CallToolResult> SnapshotSession([Description("The session_id.")] string session_id, [Description("A name for it (optional).")] string? name = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await snapshots.CreateAsync(session_id, Owner, name, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Snapshot {s.SnapshotId} \"{s.Name}\": {s.Files} entries, {s.SizeBytes} bytes. " + Fresh, new { snapshot = s });
    });

    /// <summary>list_snapshots.</summary>
    [McpServerTool(Name = "list_snapshots", Title = "List snapshots", ReadOnly = true, OpenWorld = false)]
    [Description("Your saved workspaces, newest first.")]
    public Task<CallToolResult> ListSnapshots() => Run(() =>
    {
        var list = snapshots.List(Owner).Select(s => s.ToDto()).ToList();
        var text = list.Count == 0 ? "No snapshots." : string.Join('\n', list.Select(s => $"{s.SnapshotId} \"{s.Name}\" from {s.SourceSessionId} ({s.Image}, {s.SizeBytes} bytes, {s.CreatedAt:O})"));
        return Task.FromResult(McpToolResults.Ok(text, new { snapshots = list }));
    });

    /// <summary>delete_snapshot.</summary>
    [McpServerTool(Name = "delete_snapshot", Title = "Delete a snapshot", Destructive = true, OpenWorld = false)]
    [Description("Deletes one of your snapshots.")]
    public Task<CallToolResult> DeleteSnapshot([Description("The snapshot_id.")] string snapshot_id) => Run(() =>
    {
        snapshots.Delete(Owner, snapshot_id);
        return Task.FromResult(McpToolResults.Ok($"Snapshot {snapshot_id} deleted.", new { deleted = snapshot_id }));
    });

    /// <summary>fork_session.</summary>
    [McpServerTool(Name = "fork_session", Title = "Fork a session", Destructive = false, OpenWorld = false)]
    [Description("Makes 'count' new sessions, each with a copy of this session's workspace (same image, limits and isolation), to try several " +
        "paths from one state.")]
    public Task<CallToolResult> ForkSession([Description("The session_id.")] string session_id, [Description("How many (default 1).")] int count = 1,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var made = (await sessions.ForkAsync(session_id, Owner, count, cancellationToken)).Select(s => s.ToDto()).ToList();
        return McpToolResults.Ok($"Forked {session_id} into {string.Join(", ", made.Select(s => s.Id))}. " + Fresh,
            new { session_ids = made.Select(s => s.Id).ToList(), sessions = made, interpreter = "fresh" });
    });
}
