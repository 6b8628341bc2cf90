using System.CommandLine;
using System.Diagnostics;
using Sandbox.Client.Contracts;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>review</c>, <c>commit</c>, <c>push</c>, <c>commit-push</c> and <c>check</c>: the task's work, brought
/// home. History moves as bundles: the server exports the task's commits, this machine fetches them and pushes with
/// the user's own git set-up (a task the server cloned from a URL is pushed by the server instead).</summary>
internal static class GitCommands
{
    private static readonly Argument<string> TaskArg = new("task") { Description = "The task's name" };
    private static readonly Option<string> Remote = new("--remote") { Description = "The remote to push to and check against (default: origin)", DefaultValueFactory = _ => "origin" };
    private static readonly Option<string?> RemoteBranch = new("--branch") { Description = "The remote branch (default: the task's branch)" };

    public static Command Review()
    {
        var stat = new Option<bool>("--stat") { Description = "The diff stat only, not the diff" };
        var command = new Command("review", "Show the task's work: branch, commits, uncommitted changes, diff stat and the full diff against its base") { TaskArg, stat };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var (session, _) = await context.FindGitTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var review = await context.Client.ReviewChangesAsync(session.Id, parse.GetValue(stat) ? 0 : 2_000_000, ct).ConfigureAwait(false);
            context.Output.Result(new { task = parse.GetValue(TaskArg), review }, () =>
            {
                var c = context.Output.Console;
                c.MarkupLine($"[bold]{Markup.Escape(review.Branch)}[/] at {review.HeadCommit[..12]}, base {review.BaseCommit[..12]}");
                c.MarkupLine(review.Commits.Count == 0 ? "No commits since the base." : $"{review.Commits.Count} commit(s) since the base:");
                foreach (var commit in review.Commits)
                {
                    c.MarkupLine($"  [yellow]{commit.Id[..12]}[/] {Markup.Escape(commit.Subject)} [grey]({Markup.Escape(commit.Author)})[/]");
                }
                if (review.Uncommitted.Count > 0)
                {
                    c.MarkupLine($"[red]{review.Uncommitted.Count} uncommitted change(s):[/]");
                    foreach (var line in review.Uncommitted)
                    {
                        c.MarkupLine("  " + Markup.Escape(line));
                    }
                }
                c.WriteLine();
                c.WriteLine(review.DiffStat.TrimEnd());
                if (review.Diff.Length > 0)
                {
                    c.WriteLine();
                    foreach (var line in review.Diff.Split('\n'))
                    {
                        var color = line.StartsWith("+++", StringComparison.Ordinal) || line.StartsWith("---", StringComparison.Ordinal) ? "bold"
                            : line.StartsWith('+') ? "green" : line.StartsWith('-') ? "red" : line.StartsWith("@@", StringComparison.Ordinal) ? "cyan" : null;
                        c.MarkupLine(color is null ? Markup.Escape(line) : $"[{color}]{Markup.Escape(line)}[/]");
                    }
                }
                if (review.Truncated)
                {
                    c.MarkupLine("[yellow](diff cut short)[/]");
                }
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    private static readonly Option<string?> Message = new("--message", "-m") { Description = "The commit message (without it, one is proposed from the changes for you to edit)" };
    private static readonly Option<bool> Yes = new("--yes", "-y") { Description = "Take the proposed message as it is (no editor)" };

    public static Command Commit()
    {
        var positional = new Argument<string?>("message") { Description = "The commit message (or use -m)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("commit", "Commit every change in the task's workspace (new files too)") { TaskArg, positional, Message, Yes };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var changes = await CommitAsync(context, parse, parse.GetValue(positional), ct).ConfigureAwait(false);
            context.Output.Result(new { task = parse.GetValue(TaskArg), changes }, () => context.Output.Console.MarkupLine(
                $"{Markup.Escape(changes.Branch)} is at [yellow]{changes.HeadCommit[..12]}[/]: {changes.Commits.Count} commit(s) since the base" + (changes.Uncommitted.Count > 0 ? $", {changes.Uncommitted.Count} still uncommitted." : ".")));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Push()
    {
        var force = new Option<bool>("--force") { Description = "Overwrite the remote branch even when that is not a fast-forward" };
        var command = new Command("push", "Push the task's commits: fetched here as a bundle, pushed with your own git set-up") { TaskArg, Remote, RemoteBranch, force };
        CliApp.Handle(command, async (parse, context, ct) => await PushAsync(context, parse, parse.GetValue(force), ct).ConfigureAwait(false));
        return command;
    }

    public static Command CommitPush()
    {
        var force = new Option<bool>("--force") { Description = "Overwrite the remote branch even when that is not a fast-forward" };
        var positional = new Argument<string?>("message") { Description = "The commit message (or use -m)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("commit-push", "Commit every change, then push") { TaskArg, positional, Message, Yes, Remote, RemoteBranch, force };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            await CommitAsync(context, parse, parse.GetValue(positional), ct).ConfigureAwait(false);
            return await PushAsync(context, parse, parse.GetValue(force), ct).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Check()
    {
        var command = new Command("check", "Is the task's work committed, pushed, and on top of its base? Exit 0 when all are, 4 when not (a gate for scripts)") { TaskArg, Remote, RemoteBranch };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var (session, git) = await context.FindGitTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var review = await context.Client.ReviewChangesAsync(session.Id, 0, ct).ConfigureAwait(false);
            var branch = parse.GetValue(RemoteBranch) ?? review.Branch;
            var local = git.Imported ? await LocalGit.FindAsync(null, ct).ConfigureAwait(false) : null;
            var remote = git.Imported ? parse.GetValue(Remote)! : git.Url;
            var runner = local ?? new LocalGit(Path.GetTempPath());
            var pushedTip = await RemoteTipAsync(runner, remote, branch, ct).ConfigureAwait(false);
            var committed = review.Uncommitted.Count == 0;
            var pushed = review.Commits.Count == 0 || pushedTip == review.HeadCommit;
            var baseTip = await RemoteTipAsync(runner, remote, git.Ref ?? "", ct).ConfigureAwait(false);
            if (baseTip is null && local is not null && git.Ref is { } baseName)
            {
                var (code, stdout, _) = await local.TryAsync(ct, "rev-parse", "--verify", "--quiet", "refs/heads/" + baseName).ConfigureAwait(false);
                baseTip = code == 0 ? stdout.Trim() : null;
            }
            var behind = baseTip is not null && baseTip != git.BaseCommit
                && !(local is not null && (await local.TryAsync(ct, "merge-base", "--is-ancestor", baseTip, review.HeadCommit).ConfigureAwait(false)).ExitCode == 0);
            var clean = committed && pushed && !behind;
            context.Output.Result(new { task = parse.GetValue(TaskArg), clean, committed, pushed, behind_base = behind, branch, head = review.HeadCommit, remote_head = pushedTip, base_head = baseTip }, () =>
            {
                var table = new Table().AddColumns("check", "state");
                table.AddRow("committed", committed ? "[green]yes[/]" : $"[red]no[/]: {review.Uncommitted.Count} uncommitted change(s)");
                table.AddRow("pushed", pushed ? "[green]yes[/]" : $"[red]no[/]: {Markup.Escape(remote)} {Markup.Escape(branch)} is at {pushedTip?[..12] ?? "nothing"}, the task at {review.HeadCommit[..12]}");
                table.AddRow("on its base", behind ? $"[red]no[/]: {Markup.Escape(git.Ref ?? "")} moved to {baseTip?[..12]}" : "[green]yes[/]");
                context.Output.Console.Write(table);
            });
            return clean ? ExitCodes.Ok : ExitCodes.NotClean;
        });
        return command;
    }

    public static Command Update()
    {
        var noFetch = new Option<bool>("--no-fetch") { Description = "Use the base as it is here (do not fetch it from the remote first)" };
        var command = new Command("update", "Rebase the task's branch onto the latest base: fetched here with your git, sent as a bundle; a conflict changes nothing") { TaskArg, Remote, noFetch };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var task = parse.GetValue(TaskArg)!;
            var (session, git) = await context.FindGitTaskAsync(task, ct).ConfigureAwait(false);
            if (!git.Imported || git.Ref is not { } baseBranch)
            {
                throw new CliException(ExitCodes.Failed, "not_local", $"Task '{task}' was cloned by the server from {git.Url}; update works for tasks spawned from a local checkout.");
            }
            var local = await LocalGit.FindAsync(null, ct).ConfigureAwait(false);
            var remote = parse.GetValue(Remote)!;
            string? source = null;
            if (!parse.GetValue(noFetch) && (await local.TryAsync(ct, "remote", "get-url", "--", remote).ConfigureAwait(false)).ExitCode == 0)
            {
                await local.RunAsync(ct, "fetch", "--quiet", "--", remote, $"+refs/heads/{baseBranch}:refs/remotes/{remote}/{baseBranch}").ConfigureAwait(false);
                source = $"refs/remotes/{remote}/{baseBranch}";
            }
            source ??= "refs/heads/" + baseBranch;
            var tip = (await local.RunAsync(ct, "rev-parse", "--verify", source).ConfigureAwait(false)).Trim();
            if (tip == git.BaseCommit)
            {
                context.Output.Result(new { task, updated = false, base_commit = tip }, () => context.Output.Console.WriteLine($"Task {task} is on the latest {baseBranch} already ({tip[..12]})."));
                return ExitCodes.Ok;
            }
            var bundle = Path.Combine(Path.GetTempPath(), $"sandbox-{Guid.NewGuid():N}.bundle");
            try
            {
                // Only what the task lacks: the task has its base commit.
                var haveBase = (await local.TryAsync(ct, "cat-file", "-e", git.BaseCommit + "^{commit}").ConfigureAwait(false)).ExitCode == 0;
                string[] args = haveBase ? ["bundle", "create", "--quiet", bundle, source, "^" + git.BaseCommit] : ["bundle", "create", "--quiet", bundle, source];
                await local.RunAsync(ct, args).ConfigureAwait(false);
                const string path = ".sandbox-update.bundle";
                await using (var content = File.OpenRead(bundle))
                {
                    await context.Client.UploadFileAsync(session.Id, path, content, ct).ConfigureAwait(false);
                }
                var updated = await context.Client.UpdateGitBaseAsync(session.Id, new UpdateGitBaseRequest { Path = path, Ref = baseBranch }, ct).ConfigureAwait(false);
                context.Output.Result(new { task, updated = true, base_commit = updated.Git?.BaseCommit }, () =>
                    context.Output.Console.MarkupLine($"Task {Markup.Escape(task)} is rebased onto {Markup.Escape(baseBranch)} at [yellow]{tip[..12]}[/]."));
                return ExitCodes.Ok;
            }
            finally
            {
                File.Delete(bundle);
            }
        });
        return command;
    }

    private static async Task<string?> RemoteTipAsync(LocalGit git, string remote, string branch, CancellationToken ct)
    {
        if (branch.Length == 0)
        {
            return null;
        }
        var (code, stdout, stderr) = await git.TryAsync(ct, "ls-remote", "--", remote, "refs/heads/" + branch).ConfigureAwait(false);
        if (code != 0)
        {
            throw new CliException(ExitCodes.Failed, "git_failed", $"git ls-remote {remote} failed: {stderr.Trim()}");
        }
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return line?.Split('\t')[0];
    }

    private static async Task<GitRunChangesDto> CommitAsync(CliContext context, ParseResult parse, string? positional, CancellationToken ct)
    {
        var (session, _) = await context.FindGitTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
        var message = parse.GetValue(Message) ?? positional;
        if (string.IsNullOrWhiteSpace(message))
        {
            var review = await context.Client.ReviewChangesAsync(session.Id, 0, ct).ConfigureAwait(false);
            if (review.Uncommitted.Count == 0)
            {
                throw new CliException(ExitCodes.Failed, "nothing_to_commit", "Nothing to commit: the task's workspace has no uncommitted change.");
            }
            var proposal = Propose(review.Uncommitted);
            message = parse.GetValue(Yes) ? proposal
                : Console.IsInputRedirected || Console.IsOutputRedirected || context.Output.Json
                    ? throw new CliException(ExitCodes.Usage, "message_required", $"Pass a commit message (-m), or --yes to take the proposal: \"{proposal}\".")
                    : await EditAsync(proposal, review.DiffStat, ct).ConfigureAwait(false);
        }
        return await context.Client.CommitChangesAsync(session.Id, message, ct).ConfigureAwait(false);
    }

    /// <summary>A message from what changed: the file when one did, else how many and the first few.</summary>
    internal static string Propose(IReadOnlyList<string> status)
    {
        var files = status.Select(l => l.Length > 3 ? l[3..].Trim().Trim('"') : l).Select(f => f.Contains(" -> ", StringComparison.Ordinal) ? f[(f.IndexOf(" -> ", StringComparison.Ordinal) + 4)..] : f).ToList();
        var added = status.All(l => l.StartsWith("??", StringComparison.Ordinal) || l.StartsWith('A'));
        var verb = added ? "Add" : "Update";
        return files.Count == 1 ? $"{verb} {files[0]}" : $"{verb} {files.Count} files: {string.Join(", ", files.Take(3))}{(files.Count > 3 ? ", ..." : "")}";
    }

    /// <summary>Opens the user's editor (<c>VISUAL</c>, <c>EDITOR</c>, else vi or Notepad) on the proposal; lines starting
    /// with '#' are dropped; an empty message aborts.</summary>
    private static async Task<string> EditAsync(string proposal, string stat, CancellationToken ct)
    {
        var file = Path.Combine(Path.GetTempPath(), $"sandbox-commit-{Guid.NewGuid():N}.txt");
        try
        {
            await File.WriteAllTextAsync(file, proposal + "\n\n# The task's commit message. Lines starting with '#' are dropped; an empty message aborts.\n#\n"
                + string.Join('\n', stat.TrimEnd().Split('\n').Select(l => "# " + l)) + "\n", ct).ConfigureAwait(false);
            var editor = Environment.GetEnvironmentVariable("VISUAL") is { Length: > 0 } v ? v
                : Environment.GetEnvironmentVariable("EDITOR") is { Length: > 0 } e ? e : OperatingSystem.IsWindows() ? "notepad" : "vi";
            // The editor setting is the user's own (as git runs it: through the shell, the file as an argument).
            var start = OperatingSystem.IsWindows() ? new ProcessStartInfo("cmd", ["/c", editor + " \"" + file + "\""]) : new ProcessStartInfo("sh", ["-c", editor + " \"$1\"", "sh", file]);
            start.UseShellExecute = false;
            using var process = Process.Start(start) ?? throw new CliException(ExitCodes.Failed, "editor_failed", $"The editor '{editor}' could not be started.");
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new CliException(ExitCodes.Failed, "editor_failed", $"The editor '{editor}' exited with {process.ExitCode}: nothing was committed.");
            }
            var message = string.Join('\n', (await File.ReadAllLinesAsync(file, ct).ConfigureAwait(false)).Where(l => !l.StartsWith('#'))).Trim();
            return message.Length > 0 ? message : throw new CliException(ExitCodes.Failed, "commit_aborted", "The message is empty: nothing was committed.");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<int> PushAsync(CliContext context, ParseResult parse, bool force, CancellationToken ct)
    {
        var task = parse.GetValue(TaskArg)!;
        var (session, git) = await context.FindGitTaskAsync(task, ct).ConfigureAwait(false);
        var review = await context.Client.ReviewChangesAsync(session.Id, 0, ct).ConfigureAwait(false);
        var branch = parse.GetValue(RemoteBranch) ?? review.Branch;
        if (review.Uncommitted.Count > 0)
        {
            context.Output.Warn($"{review.Uncommitted.Count} uncommitted change(s) stay behind ('sandbox {task} commit' first, or commit-push).");
        }
        if (review.Commits.Count == 0)
        {
            throw new CliException(ExitCodes.Failed, "nothing_to_push", $"Task '{task}' has no commits since its base: nothing to push.");
        }
        if (!git.Imported)
        {
            // Cloned by the server from a URL: the server pushes, with the operator's credential.
            var pushed = await context.Client.PushChangesAsync(session.Id, new PushChangesRequest { RemoteBranch = branch, Force = force }, ct).ConfigureAwait(false);
            context.Output.Result(new { task, pushed = true, remote = pushed.Url, branch = pushed.RemoteBranch, commit = pushed.Commit, by = "server" }, () =>
                context.Output.Console.MarkupLine($"The server pushed [yellow]{pushed.Commit[..12]}[/] to {Markup.Escape(pushed.RemoteBranch)} of {Markup.Escape(pushed.Url)}."));
            return ExitCodes.Ok;
        }
        var local = await LocalGit.FindAsync(null, ct).ConfigureAwait(false);
        if ((await local.TryAsync(ct, "cat-file", "-e", git.BaseCommit + "^{commit}").ConfigureAwait(false)).ExitCode != 0)
        {
            throw new CliException(ExitCodes.Usage, "wrong_repository", $"{local.Directory} does not have task '{task}''s base commit {git.BaseCommit[..12]}: run this in the repository the task was spawned from.");
        }
        var export = await context.Client.ExportChangesAsync(session.Id, new ExportChangesRequest { Format = "bundle" }, ct).ConfigureAwait(false);
        var bundle = Path.Combine(Path.GetTempPath(), $"sandbox-{Guid.NewGuid():N}.bundle");
        try
        {
            await using (var file = File.Create(bundle))
            {
                await context.Client.DownloadFileAsync(session.Id, export.Path, file, ct).ConfigureAwait(false);
            }
            var localRef = "refs/sandbox/" + task;
            await local.RunAsync(ct, "fetch", "--quiet", "--no-tags", bundle, $"+refs/heads/{export.Branch}:{localRef}").ConfigureAwait(false);
            var remote = parse.GetValue(Remote)!;
            context.Output.Note($"Pushing {export.Commits.Count} commit(s) to {branch} of {remote} ...");
            string[] args = force ? ["push", "--porcelain", "--force", "--", remote, $"{localRef}:refs/heads/{branch}"] : ["push", "--porcelain", "--", remote, $"{localRef}:refs/heads/{branch}"];
            var (code, stdout, stderr) = await local.TryAsync(ct, args).ConfigureAwait(false);
            if (code != 0)
            {
                var rejected = stdout.Contains("[rejected]", StringComparison.Ordinal) || stderr.Contains("non-fast-forward", StringComparison.Ordinal);
                throw new CliException(ExitCodes.Failed, rejected ? "push_rejected" : "git_failed", rejected
                    ? $"{remote} refused {branch}: it is not a fast-forward ('sandbox {task} push --force' overwrites it). git said: {stderr.Trim()}"
                    : $"git push to {remote} failed: {stderr.Trim()}");
            }
            context.Output.Result(new { task, pushed = true, remote, branch, commit = export.HeadCommit, commits = export.Commits.Count, local_ref = localRef, by = "local" }, () =>
                context.Output.Console.MarkupLine($"Pushed [yellow]{export.HeadCommit[..12]}[/] ({export.Commits.Count} commit(s)) to {Markup.Escape(branch)} of {Markup.Escape(remote)}; here it is {Markup.Escape(localRef)}."));
            return ExitCodes.Ok;
        }
        finally
        {
            File.Delete(bundle);
        }
    }
}
