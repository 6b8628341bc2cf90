using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Agents;

/// <summary>What changed, counted: files by kind, text lines, commits, and one line saying it.</summary>
/// <param name="FilesAdded">Files added.</param>
/// <param name="FilesModified">Files modified.</param>
/// <param name="FilesDeleted">Files deleted.</param>
/// <param name="LinesAdded">Text lines added (binary files count none).</param>
/// <param name="LinesRemoved">Text lines removed.</param>
/// <param name="Commits">Commits made.</param>
/// <param name="Text">The same in one line, e.g. <c>2 files changed (1 added, 1 modified), +14 -3 lines, 1 commit</c>.</param>
public sealed record ChangeSummary(int FilesAdded, int FilesModified, int FilesDeleted, int LinesAdded, int LinesRemoved, int Commits, string Text)
{
    /// <summary>Counts the changes, the unified diff's lines and the commits.</summary>
    public static ChangeSummary Of(IReadOnlyList<AgentFileChange> changes, string diff, int commits)
    {
        ArgumentNullException.ThrowIfNull(changes);
        int added = 0, removed = 0;
        foreach (var line in (diff ?? "").AsSpan().EnumerateLines())
        {
            if (line.StartsWith("+++") || line.StartsWith("---"))
            {
                continue;
            }
            added += line.StartsWith("+") ? 1 : 0;
            removed += line.StartsWith("-") ? 1 : 0;
        }
        int a = changes.Count(c => c.Change == "added"), m = changes.Count(c => c.Change == "modified"), d = changes.Count(c => c.Change == "deleted");
        var kinds = new[] { (a, "added"), (m, "modified"), (d, "deleted") }.Where(k => k.Item1 > 0).Select(k => $"{k.Item1} {k.Item2}");
        var text = changes.Count == 0 ? "no files changed"
            : string.Create(CultureInfo.InvariantCulture, $"{changes.Count} file{(changes.Count == 1 ? "" : "s")} changed ({string.Join(", ", kinds)}), +{added} -{removed} lines");
        if (commits > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", {commits} commit{(commits == 1 ? "" : "s")}");
        }
        return new ChangeSummary(a, m, d, added, removed, commits, text);
    }
}

/// <summary>A session's work since its first agent run: the files changed against the workspace as it was then, the
/// diff, the counts, and what its agents said last.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Summary">The counts and their one line.</param>
/// <param name="Changes">Files added, modified or deleted.</param>
/// <param name="Diff">Unified diff (empty for a summary).</param>
/// <param name="Truncated">Whether the diff (or the list) was cut at the server's cap.</param>
/// <param name="Runs">Agent runs in the session.</param>
/// <param name="FinalMessage">The newest finished run's final message.</param>
public sealed record SessionChangesReport(string SessionId, ChangeSummary Summary, IReadOnlyList<AgentFileChange> Changes, string Diff, bool Truncated,
    int Runs, string? FinalMessage);

/// <summary>
/// A session's changes since before its first agent run (the baseline the runner keeps in the session's <c>.sandbox/</c>
/// folder when that run starts): the whole diff, one path's, and a summary. The baseline is a review aid kept in the
/// workspace the agent can write: an agent that means to hide its work could alter it (a named snapshot is not).
/// </summary>
public sealed class SessionChanges(SessionRegistry registry, AgentRunService agents, Snapshots.SnapshotService snapshots, Files.WorkspaceStreams streams,
    IOptions<AgentOptions> options, TimeProvider time)
{
    /// <summary>The diff of the workspace (or of the files at or under <paramref name="path"/>) against the baseline, or
    /// against the caller's snapshot <paramref name="against"/>; <paramref name="includeDiff"/> false leaves the text out
    /// (a summary).</summary>
    public async Task<SessionChangesReport> GetAsync(string sessionId, string owner, string? path, bool includeDiff, CancellationToken ct, string? against = null)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var prefix = string.IsNullOrEmpty(path) ? "" : Files.WorkspacePath.Normalize(path);
        var runs = await agents.ListAsync(sessionId, owner, ct).ConfigureAwait(false);
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        string? baseline = null;
        if (!string.IsNullOrEmpty(against))
        {
            // The snapshot's manifest goes where the runner reads baselines (the session's own folder), for this diff only.
            var manifest = await snapshots.ManifestAsync(owner, against, ct).ConfigureAwait(false);
            baseline = $".sandbox/baselines/{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}.json";
            using var body = new MemoryStream(manifest, writable: false);
            await streams.WriteAsync(session.Id, owner, baseline, body, manifest.Length, manifest.Length, ct).ConfigureAwait(false);
        }
        RunnerMessage reply;
        try
        {
            reply = await session.Live.AskAsync(new SessionDiffRequest(prefix, options.Value.MaxDiffChars, baseline), TimeSpan.FromMinutes(2), "session diff", ct).ConfigureAwait(false);
        }
        finally
        {
            if (baseline is not null)
            {
                await session.Live.AskAsync(new DeleteRequest(baseline), TimeSpan.FromSeconds(30), "delete", CancellationToken.None).ConfigureAwait(false);
            }
        }
        session.Touch(time.GetUtcNow());
        if (reply.Type == "error")
        {
            throw Str(reply.Body, "code") == "no_baseline"
                ? new SandboxException(SandboxErrorCodes.RunNotFound,
                    $"Session {session.Id} has no agent run yet, so there is no state before one to compare with. Run an agent first (run_agent), or review git changes with review_changes.")
                : new SandboxException(SandboxErrorCodes.Internal, "The session diff failed: " + SafeText.Shorten(Str(reply.Body, "message")));
        }
        var changes = new List<AgentFileChange>();
        if (reply.Body.TryGetProperty("changes", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var c in list.EnumerateArray())
            {
                changes.Add(new AgentFileChange(Str(c, "path") ?? "", Str(c, "change") ?? "", Bool(c, "binary"), Long(c, "size")));
            }
        }
        var diff = Str(reply.Body, "diff") ?? "";
        var commits = runs.Sum(r => r.Git?.Commits.Count ?? 0);
        var last = runs.FirstOrDefault(r => r.Status != AgentRunStatus.Running && r.FinalMessage is not null);
        return new SessionChangesReport(session.Id, ChangeSummary.Of(changes, diff, commits), changes, includeDiff ? diff : "", Bool(reply.Body, "truncated"),
            runs.Count, last?.FinalMessage);
    }
}
