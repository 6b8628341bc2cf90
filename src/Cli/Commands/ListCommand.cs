using System.CommandLine;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>sandbox list</c>: your tasks (named sessions), with <c>--all</c> every session.</summary>
internal static class ListCommand
{
    public static Command Build()
    {
        var all = new Option<bool>("--all") { Description = "Every session, named or not" };
        var status = new Option<bool>("--status") { Description = "Also what runs in each (its agent) and its git state (commits, uncommitted)" };
        var command = new Command("list", "Your tasks") { all, status };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var sessions = (await context.Client.ListSessionsAsync(ct).ConfigureAwait(false))
                .Where(s => s.Status != "closed" && (parse.GetValue(all) || s.Name is not null)).OrderBy(s => s.Name ?? "~" + s.Id, StringComparer.Ordinal).ToList();
            var rows = new List<Row>();
            foreach (var s in sessions)
            {
                string? agent = null;
                int? commits = null, uncommitted = null;
                if (parse.GetValue(status) && s.Status == "ready")
                {
                    var terminals = await context.Client.ListTerminalsAsync(s.Id, ct).ConfigureAwait(false);
                    agent = string.Join(",", terminals.Where(t => t.Running).Select(t => t.Kind).Distinct());
                    if (s.Git is not null)
                    {
                        var review = await context.Client.ReviewChangesAsync(s.Id, 0, ct).ConfigureAwait(false);
                        (commits, uncommitted) = (review.Commits.Count, review.Uncommitted.Count);
                    }
                }
                rows.Add(new Row(s.Name, s.Id, s.Image, s.Status, s.Git?.Branch, agent, commits, uncommitted, s.CreatedAt));
            }
            context.Output.Result(rows.Select(r => new
            {
                task = r.Task, session_id = r.SessionId, image = r.Image, status = r.Status, branch = r.Branch, running = r.Running, commits = r.Commits, uncommitted = r.Uncommitted, created_at = r.CreatedAt,
            }).ToList(), () =>
            {
                if (rows.Count == 0)
                {
                    context.Output.Console.WriteLine("No tasks. Start one with 'sandbox spawn claude NAME' in your repository.");
                    return;
                }
                var table = new Table().AddColumns("TASK", "SESSION", "IMAGE", "STATUS", "BRANCH");
                if (parse.GetValue(status))
                {
                    table.AddColumns("RUNNING", "COMMITS", "UNCOMMITTED");
                }
                table.AddColumn("AGE");
                foreach (var r in rows)
                {
                    var cells = new List<string> { Markup.Escape(r.Task ?? "-"), r.SessionId, Markup.Escape(r.Image), r.Status == "ready" ? "[green]ready[/]" : $"[red]{r.Status}[/]", Markup.Escape(r.Branch ?? "-") };
                    if (parse.GetValue(status))
                    {
                        cells.AddRange([Markup.Escape(r.Running is { Length: > 0 } x ? x : "-"), r.Commits?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-", r.Uncommitted?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"]);
                    }
                    cells.Add(Age(DateTimeOffset.UtcNow - r.CreatedAt));
                    table.AddRow(cells.ToArray());
                }
                context.Output.Console.Write(table);
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Age(TimeSpan t) => t.TotalMinutes < 1 ? $"{(int)t.TotalSeconds}s" : t.TotalHours < 1 ? $"{(int)t.TotalMinutes}m" : t.TotalDays < 1 ? $"{(int)t.TotalHours}h" : $"{(int)t.TotalDays}d";

    private sealed record Row(string? Task, string SessionId, string Image, string Status, string? Branch, string? Running, int? Commits, int? Uncommitted, DateTimeOffset CreatedAt);
}
