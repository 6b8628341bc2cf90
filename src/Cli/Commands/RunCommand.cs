using System.CommandLine;
using Sandbox.Client.Contracts;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>sandbox run --agent claude "prompt"</c>: one headless agent run on your repository (or none outside
/// one), its answer and diff printed, its status as the exit code; the session goes unless <c>--keep</c>.</summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var prompt = new Argument<string>("prompt") { Description = "What the agent should do" };
        var agent = new Option<string>("--agent") { Description = "claude or codex", DefaultValueFactory = _ => "claude" };
        agent.AcceptOnlyFromAmong("claude", "codex");
        var model = new Option<string?>("--model") { Description = "The agent's model" };
        var timeout = new Option<double?>("--timeout") { Description = "Seconds the run may take" };
        var keep = new Option<string?>("--keep") { Description = "Keep the session afterwards as a task of this name (review, commit, push it later)" };
        var command = new Command("run", "Run an agent once, headless: prints its answer and diff, exits with its status")
        {
            prompt, agent, model, timeout, keep, SpawnCommand.From, SpawnCommand.Base, SpawnCommand.Image, SpawnCommand.Cpu, SpawnCommand.Memory, SpawnCommand.Docker, SpawnCommand.DockerImage, SpawnCommand.Setup,
        };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var name = parse.GetValue(keep) is { } k ? SpawnCommand.CheckTaskName(k) : null;
            var request = SpawnCommand.NewSession(parse, name);
            SessionDto session;
            var from = parse.GetValue(SpawnCommand.From);
            if (from is null && await InRepositoryAsync(ct).ConfigureAwait(false) is false)
            {
                context.Output.Note("Not in a git repository: the agent starts in an empty workspace.");
                session = await context.Client.CreateSessionAsync(request, ct).ConfigureAwait(false);
            }
            else
            {
                session = (await Repositories.CreateAsync(context, request, from, parse.GetValue(SpawnCommand.Base), name, ct).ConfigureAwait(false)).Session;
            }
            AgentRunDto run;
            try
            {
                foreach (var setup in parse.GetValue(SpawnCommand.Setup) ?? [])
                {
                    await Repositories.BashAsync(context, session.Id, setup, ct).ConfigureAwait(false);
                }
                context.Output.Note($"{parse.GetValue(agent)} works on it in session {session.Id} ...");
                run = await context.Client.RunAgentAsync(session.Id, new RunAgentRequest
                {
                    Prompt = parse.GetValue(prompt)!, Agent = Repositories.AgentName(parse.GetValue(agent)!), Model = parse.GetValue(model), TimeoutSeconds = parse.GetValue(timeout),
                }, ct).ConfigureAwait(false);
            }
            finally
            {
                if (name is null)
                {
                    await Repositories.CloseQuietlyAsync(context, session.Id).ConfigureAwait(false);
                }
            }
            context.Output.Result(new { task = name, session_id = name is null ? null : session.Id, run }, () =>
            {
                var c = context.Output.Console;
                c.MarkupLine(run.Status == "succeeded" ? "[green]succeeded[/]" : $"[red]{Markup.Escape(run.Status)}[/]" + (run.Error is { } e ? ": " + Markup.Escape(e) : ""));
                if (run.FinalMessage is { } final)
                {
                    c.WriteLine(final);
                }
                if (run.Diff.Length > 0)
                {
                    c.WriteLine();
                    c.WriteLine(run.Diff);
                }
                if (name is not null)
                {
                    c.MarkupLine($"Kept as task [bold]{Markup.Escape(name)}[/]: 'sandbox {Markup.Escape(name)} review', 'commit', 'push'.");
                }
            });
            return run.Status == "succeeded" ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static async Task<bool> InRepositoryAsync(CancellationToken ct)
    {
        try
        {
            await LocalGit.FindAsync(null, ct).ConfigureAwait(false);
            return true;
        }
        catch (CliException e) when (e.Code == "not_a_repository")
        {
            return false;
        }
    }
}
