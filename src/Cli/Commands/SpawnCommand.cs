using System.CommandLine;
using System.Text.RegularExpressions;
using Sandbox.Client.Contracts;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>sandbox spawn claude|codex|shell TASK</c>: a named task (a session) with the repository you are in (or
/// <c>--from</c>), on a branch of its own, with the agent's interface running in it.</summary>
internal static partial class SpawnCommand
{
    internal static readonly Option<string?> From = new("--from") { Description = "The repository: a local path (sent as a git bundle) or an https:// URL the server clones; default: the repository you are in" };
    internal static readonly Option<string?> Base = new("--base") { Description = "The branch to start from (default: the one checked out)" };
    internal static readonly Option<string?> Image = new("--image") { Description = "The session's image (default: agent)" };
    internal static readonly Option<double?> Cpu = new("--cpu") { Description = "CPU cores" };
    internal static readonly Option<int?> Memory = new("--memory") { Description = "Memory in MiB" };
    internal static readonly Option<string[]> Setup = new("--setup") { Description = "A shell command run once in the workspace before the agent starts (repeatable)", AllowMultipleArgumentsPerToken = false };
    internal static readonly Option<bool> Docker = new("--docker") { Description = "Give the task's session its own Docker engine (docker, docker-compose, docker build; gVisor servers only)" };
    internal static readonly Option<string[]> DockerImage = new("--docker-image") { Description = "An image of the server to load into that engine, e.g. sandbox-postgres:latest (repeatable; implies --docker)", AllowMultipleArgumentsPerToken = false };
    internal static readonly Option<int?> Ttl = new("--ttl") { Description = "Idle seconds before the task's session is closed (an agent at work is never idle)" };

    public static Command Build()
    {
        var agent = new Argument<string>("agent") { Description = "claude, codex or shell" };
        agent.AcceptOnlyFromAmong("claude", "codex", "shell");
        var task = new Argument<string>("task") { Description = "The task's name (lower-case letters, digits, . _ -): its session's name and its branch" };
        var branch = new Option<string?>("--branch") { Description = "The task's branch (default: the task's name)" };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "The agent's first message" };
        var model = new Option<string?>("--model") { Description = "The agent's model" };
        var attach = new Option<bool>("--attach", "-a") { Description = "Attach to the agent's terminal once it runs" };
        var command = new Command("spawn", "Start a task: a session with your repository on a branch of its own, and the agent's own interface in a terminal it keeps (attach, detach, come back)")
        {
            agent, task, From, Base, branch, Image, Cpu, Memory, Docker, DockerImage, Setup, prompt, model, Ttl, attach,
        };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var name = CheckTaskName(parse.GetValue(task)!);
            var agentName = Repositories.AgentName(parse.GetValue(agent)!);
            var workBranch = parse.GetValue(branch) ?? name;
            if (!BranchName().IsMatch(workBranch) || workBranch.Contains("..", StringComparison.Ordinal))
            {
                throw new CliException(ExitCodes.Usage, "bad_branch", $"'{workBranch}' is not a branch name this tool uses (letters, digits, . _ / - +).");
            }
            var (session, baseBranch) = await Repositories.CreateAsync(context, NewSession(parse, name), parse.GetValue(From), parse.GetValue(Base), workBranch, ct).ConfigureAwait(false);
            TerminalDto? terminal = null;
            try
            {
                foreach (var setup in parse.GetValue(Setup) ?? [])
                {
                    context.Output.Note("setup: " + setup);
                    await Repositories.BashAsync(context, session.Id, setup, ct).ConfigureAwait(false);
                }
                if (agentName is not null)
                {
                    terminal = await context.Client.OpenTerminalAsync(session.Id, new OpenTerminalRequest
                    {
                        Agent = agentName, Prompt = parse.GetValue(prompt), Model = parse.GetValue(model), Cols = Terminal.Columns(), Rows = Terminal.Rows(),
                    }, ct).ConfigureAwait(false);
                }
            }
            catch
            {
                await Repositories.CloseQuietlyAsync(context, session.Id).ConfigureAwait(false);
                throw;
            }
            context.Output.Result(new { task = name, session_id = session.Id, agent = agentName ?? "shell", branch = workBranch, @base = baseBranch, base_commit = session.Git?.BaseCommit, terminal_id = terminal?.TerminalId }, () =>
            {
                context.Output.Console.MarkupLine($"[green]Task {Markup.Escape(name)}[/] is up: session {session.Id}, branch [bold]{Markup.Escape(workBranch)}[/] from {Markup.Escape(baseBranch)} ({session.Git?.BaseCommit[..12]}).");
                context.Output.Console.MarkupLine(agentName is null
                    ? $"Open a shell with [bold]sandbox {Markup.Escape(name)} shell[/]."
                    : $"{Markup.Escape(agentName)} runs in terminal {terminal!.TerminalId}: [bold]sandbox {Markup.Escape(name)} attach[/] (detach with Ctrl-P Ctrl-Q; it keeps working).");
            });
            if (parse.GetValue(attach))
            {
                return agentName is null
                    ? await AttachCommands.RunAttachedAsync(context, session.Id, null, readOnly: false, ct).ConfigureAwait(false)
                    : await AttachCommands.RunAttachedAsync(context, session.Id, terminal!.TerminalId, readOnly: false, ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The create request of a task's session from the shared options.</summary>
    internal static CreateSessionRequest NewSession(ParseResult parse, string? name) => new()
    {
        Name = name,
        Image = parse.GetValue(Image) ?? "agent",
        Limits = parse.GetValue(Cpu) is null && parse.GetValue(Memory) is null ? null : new LimitsDto { Cpus = parse.GetValue(Cpu), MemoryMb = parse.GetValue(Memory) },
        IdleTimeoutSeconds = parse.GetValue(Ttl),
        Docker = parse.GetValue(Docker) || parse.GetValue(DockerImage) is { Length: > 0 } ? true : null,
        DockerImages = parse.GetValue(DockerImage) is { Length: > 0 } images ? images : null,
    };

    internal static string CheckTaskName(string name) => TaskName().IsMatch(name) ? name
        : throw new CliException(ExitCodes.Usage, "bad_task_name", $"'{name}' is not a task name: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63.");

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex TaskName();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,199}$")]
    private static partial Regex BranchName();
}
