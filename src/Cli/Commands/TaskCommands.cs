using System.CommandLine;
using Sandbox.Client.Contracts;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>info</c>, <c>preview</c>, <c>stop</c> and <c>purge</c>: one task's session.</summary>
internal static class TaskCommands
{
    private static readonly Argument<string> TaskArg = new("task") { Description = "The task's name" };

    public static Command Info()
    {
        var command = new Command("info", "The task's session, terminals and repository") { TaskArg };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var session = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var terminals = await context.Client.ListTerminalsAsync(session.Id, ct).ConfigureAwait(false);
            context.Output.Result(new { task = session.Name, session, terminals }, () =>
            {
                var grid = new Grid().AddColumn().AddColumn();
                grid.AddRow("session", session.Id);
                grid.AddRow("status", session.Status + (session.LostReason is { } why ? ": " + Markup.Escape(why) : ""));
                grid.AddRow("image", Markup.Escape(session.Image) + ", " + session.Isolation);
                grid.AddRow("limits", $"{session.Limits.Cpus} cpu, {session.Limits.MemoryMb} MiB, workspace {session.Limits.WorkspaceMb} MiB");
                if (session.Git is { } git)
                {
                    grid.AddRow("repository", Markup.Escape($"{git.Url} ({(git.Imported ? "sent from your machine" : "cloned by the server")})"));
                    grid.AddRow("branch", Markup.Escape($"{git.Branch} from {git.Ref} at {git.BaseCommit[..12]}"));
                }
                foreach (var t in terminals)
                {
                    grid.AddRow("terminal " + t.TerminalId, $"{t.Kind}, {(t.Running ? "running" : "ended")}, {t.Viewers} attached");
                }
                context.Output.Console.Write(grid);
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Preview()
    {
        var port = new Option<int>("--port") { Description = "The port the command listens on", Required = true };
        var cmd = new Option<string?>("--cmd") { Description = "A shell command to start in the background first (e.g. 'python3 -m http.server 8000')" };
        var command = new Command("preview", "Start a process (optional) and expose its port; prints the preview URL") { TaskArg, port, cmd };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var session = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            ProcessDto? process = null;
            if (parse.GetValue(cmd) is { Length: > 0 } line)
            {
                process = await context.Client.StartProcessAsync(session.Id, new StartProcessRequest { Command = line }, ct).ConfigureAwait(false);
            }
            await context.Client.ExposePortAsync(session.Id, parse.GetValue(port), ct).ConfigureAwait(false);
            var preview = await context.Client.OpenPreviewAsync(session.Id, parse.GetValue(port), ct).ConfigureAwait(false);
            context.Output.Result(new { task = session.Name, preview, process_id = process?.ProcessId }, () =>
            {
                context.Output.Console.WriteLine(preview.Url);
                context.Output.Note($"port {preview.Port} of task {session.Name}; the link holds a grant until {preview.ExpiresAt:u}" + (process is null ? "" : $"; process {process.ProcessId} runs the command"));
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Restart()
    {
        var noAgent = new Option<bool>("--no-agent") { Description = "Do not start the agent again" };
        var command = new Command("restart", "Recreate the task's session on its image as it is now, keeping its files, branch and the agent's conversation; the agent that ran resumes it") { TaskArg, noAgent };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var old = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var agents = (await context.Client.ListTerminalsAsync(old.Id, ct).ConfigureAwait(false)).Where(t => t.Running && t.Kind != "shell").Select(t => t.Kind).Distinct().ToList();
            var session = await context.Client.RestartSessionAsync(old.Id, ct).ConfigureAwait(false);
            TerminalDto? terminal = null;
            if (!parse.GetValue(noAgent) && agents.Count > 0)
            {
                terminal = await context.Client.OpenTerminalAsync(session.Id, new OpenTerminalRequest { Agent = agents[0], Continue = true, Cols = Terminal.Columns(), Rows = Terminal.Rows() }, ct).ConfigureAwait(false);
            }
            context.Output.Result(new { task = session.Name, session_id = session.Id, previous_session_id = old.Id, image = session.Image, terminal_id = terminal?.TerminalId, agent = terminal?.Kind }, () =>
                context.Output.Console.MarkupLine($"Task {Markup.Escape(session.Name ?? "")} restarted: session {session.Id} on {Markup.Escape(session.Image)}"
                    + (terminal is null ? "." : $"; {Markup.Escape(terminal.Kind)} resumes its conversation in terminal {terminal.TerminalId} ('sandbox {Markup.Escape(session.Name ?? "")} attach').")));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Stop()
    {
        var task = new Argument<string?>("task") { Description = "The task's name", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Every task" };
        var command = new Command("stop", "Stop what runs in a task (its agent and shells); the task, its files and branch stay") { task, all };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var sessions = await Targets(context, parse.GetValue(task), parse.GetValue(all), ct).ConfigureAwait(false);
            var stopped = new List<object>();
            foreach (var session in sessions)
            {
                foreach (var t in (await context.Client.ListTerminalsAsync(session.Id, ct).ConfigureAwait(false)).Where(t => t.Running))
                {
                    await context.Client.CloseTerminalAsync(session.Id, t.TerminalId, ct).ConfigureAwait(false);
                    stopped.Add(new { task = session.Name, terminal_id = t.TerminalId, kind = t.Kind });
                }
            }
            context.Output.Result(new { stopped }, () => context.Output.Console.WriteLine($"Stopped {stopped.Count} terminal(s) in {sessions.Count} task(s)."));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Purge()
    {
        var task = new Argument<string?>("task") { Description = "The task's name", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Every task" };
        var command = new Command("purge", "Remove a task: its session, files and everything running in it, and its refs/sandbox/TASK ref here") { task, all };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var sessions = await Targets(context, parse.GetValue(task), parse.GetValue(all), ct).ConfigureAwait(false);
            LocalGit? local = null;
            try
            {
                local = await LocalGit.FindAsync(null, ct).ConfigureAwait(false);
            }
            catch (CliException)
            {
                // Not in a repository: there is no local ref to remove.
            }
            foreach (var session in sessions)
            {
                await context.Client.CloseSessionAsync(session.Id, ct).ConfigureAwait(false);
                if (local is not null && session.Name is { } name)
                {
                    await local.TryAsync(ct, "update-ref", "-d", "refs/sandbox/" + name).ConfigureAwait(false);
                }
            }
            context.Output.Result(new { purged = sessions.Select(s => new { task = s.Name, session_id = s.Id }) }, () =>
                context.Output.Console.WriteLine(sessions.Count == 1 ? $"Task {sessions[0].Name} is gone." : $"{sessions.Count} tasks are gone."));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<IReadOnlyList<SessionDto>> Targets(CliContext context, string? task, bool all, CancellationToken ct)
    {
        if (all == (task is not null))
        {
            throw new CliException(ExitCodes.Usage, "bad_arguments", "Name a task, or pass --all (not both).");
        }
        return task is not null ? [await context.FindTaskAsync(task, ct).ConfigureAwait(false)]
            : (await context.Client.ListSessionsAsync(ct).ConfigureAwait(false)).Where(s => s.Name is not null && s.Status != "closed").ToList();
    }
}
