using System.CommandLine;
using System.Net.Http;
using System.Net.Sockets;
using Sandbox.Cli.Commands;
using Sandbox.Client;

namespace Sandbox.Cli;

/// <summary>The <c>sandbox</c> command line: its commands, global options, and how failures become exit codes.</summary>
public static class CliApp
{
    /// <summary>Global: the server URL.</summary>
    public static readonly Option<string?> Url = new("--url") { Description = "The server (default: SANDBOX_URL, the config file, or " + CliConfig.DefaultUrl + ")", Recursive = true };

    /// <summary>Global: the API token.</summary>
    public static readonly Option<string?> Token = new("--token") { Description = "The API token (default: SANDBOX_TOKEN or the config file)", Recursive = true };

    /// <summary>Global: JSON output.</summary>
    public static readonly Option<bool> Json = new("--json") { Description = "Print the result as JSON (for scripts)", Recursive = true };

    /// <summary>Commands that take a task first; <c>sandbox t1 attach</c> is read as <c>sandbox attach t1</c>.</summary>
    public static readonly string[] TaskVerbs = ["attach", "shell", "logs", "review", "commit", "push", "commit-push", "check", "update", "preview", "restart", "stop", "purge", "info"];

    /// <summary>Builds the command tree.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("sandbox: run Claude Code, Codex or a shell on your repository in a sandbox session; attach, review, commit and push from where you are.\n"
            + "Task commands take the task first or second: 'sandbox t1 attach' is 'sandbox attach t1'.");
        root.Options.Add(Url);
        root.Options.Add(Token);
        root.Options.Add(Json);
        foreach (var command in new[]
        {
            SpawnCommand.Build(), RunCommand.Build(), ListCommand.Build(), AttachCommands.Attach(), AttachCommands.Shell(), AttachCommands.Logs(),
            GitCommands.Review(), GitCommands.Commit(), GitCommands.Push(), GitCommands.CommitPush(), GitCommands.Check(), GitCommands.Update(),
            TaskCommands.Info(), TaskCommands.Preview(), TaskCommands.Restart(), TaskCommands.Stop(), TaskCommands.Purge(), ConfigCommand.Build(), VolumeCommands.Build(),
        })
        {
            root.Subcommands.Add(command);
        }
        return root;
    }

    /// <summary>Runs the command line and returns its exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var root = Build();
        var parse = root.Parse(Reorder(args, root));
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await Console.Error.WriteLineAsync("error: " + error.Message).ConfigureAwait(false);
            }
            await Console.Error.WriteLineAsync("Run 'sandbox --help' (or 'sandbox COMMAND --help') for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
    }

    /// <summary>Reads <c>sandbox TASK VERB ...</c> as <c>sandbox VERB TASK ...</c>.</summary>
    internal static string[] Reorder(string[] args, RootCommand root)
    {
        if (args.Length >= 2 && !args[0].StartsWith('-') && TaskVerbs.Contains(args[1]) && root.Subcommands.All(c => c.Name != args[0]))
        {
            return [args[1], args[0], .. args[2..]];
        }
        return args;
    }

    /// <summary>Gives a command its action: the context is made from the global options, and failures become messages
    /// and exit codes (a server error 1, a missing task 3, an unreachable server 5).</summary>
    public static void Handle(Command command, Func<ParseResult, CliContext, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = CliOutput.Create(parse.GetValue(Json));
            try
            {
                await using var context = new CliContext(output, CliConfig.Load(parse.GetValue(Url), parse.GetValue(Token)));
                return await action(parse, context, ct).ConfigureAwait(false);
            }
            catch (CliException e)
            {
                output.Error(e.Code, e.Message);
                return e.ExitCode;
            }
            catch (SandboxClientException e)
            {
                output.Error(e.Code, e.Message);
                return e.Code is "session_not_found" ? ExitCodes.NotFound : e.HttpStatus == 401 ? ExitCodes.Usage : ExitCodes.Failed;
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
            {
                output.Error("unreachable", $"The server does not answer ({e.Message}). Is it running? 'sandbox config' shows which one this uses.");
                return ExitCodes.Unreachable;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                output.Error("cancelled", "Cancelled.");
                return 130;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A fault of this tool, not of the server: said plainly, without a stack trace on the user's screen.
                output.Error("internal_error", $"{e.GetType().Name}: {e.Message} (a fault of the sandbox tool itself; please report it)");
                return ExitCodes.Failed;
            }
        });
    }
}
