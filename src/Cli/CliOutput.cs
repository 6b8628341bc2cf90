using System.Text.Json;
using Sandbox.Client.Contracts;
using Spectre.Console;

namespace Sandbox.Cli;

/// <summary>What a command prints: with <c>--json</c> one JSON document on stdout (snake_case, as the API), otherwise
/// text for people (tables and colour from Spectre.Console, colour only on a terminal and never with <c>NO_COLOR</c>).
/// Notes and progress go to stderr, so stdout stays the result.</summary>
public sealed class CliOutput
{
    private CliOutput(bool json, IAnsiConsole console, IAnsiConsole notes)
    {
        Json = json;
        Console = console;
        Notes = notes;
    }

    /// <summary>Whether the result is JSON.</summary>
    public bool Json { get; }

    /// <summary>Human output (stdout).</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Notes and progress (stderr).</summary>
    public IAnsiConsole Notes { get; }

    /// <summary>The output for this invocation.</summary>
    public static CliOutput Create(bool json)
    {
        static IAnsiConsole For(TextWriter writer, bool redirected) => AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected || Environment.GetEnvironmentVariable("NO_COLOR") is { Length: > 0 } ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        return new CliOutput(json, For(System.Console.Out, System.Console.IsOutputRedirected), For(System.Console.Error, System.Console.IsErrorRedirected));
    }

    /// <summary>Writes <paramref name="value"/> as the JSON result (with <c>--json</c>), else runs <paramref name="human"/>.</summary>
    public void Result(object value, Action human)
    {
        ArgumentNullException.ThrowIfNull(human);
        if (Json)
        {
            System.Console.Out.WriteLine(JsonSerializer.Serialize(value, SandboxJson.Options));
        }
        else
        {
            human();
        }
    }

    /// <summary>A note for people (stderr; not with <c>--json</c>).</summary>
    public void Note(string text)
    {
        if (!Json)
        {
            Notes.MarkupLine("[grey]" + Markup.Escape(text) + "[/]");
        }
    }

    /// <summary>A warning (stderr, also with <c>--json</c>).</summary>
    public void Warn(string text) => Notes.MarkupLine("[yellow]warning:[/] " + Markup.Escape(text));

    /// <summary>Reports a failure: a JSON error document on stdout with <c>--json</c>, else a line on stderr.</summary>
    public void Error(string code, string message)
    {
        if (Json)
        {
            System.Console.Out.WriteLine(JsonSerializer.Serialize(new { error = new { code, message } }, SandboxJson.Options));
        }
        else
        {
            Notes.MarkupLine($"[red]error[/] [grey]({Markup.Escape(code)})[/]: {Markup.Escape(message)}");
        }
    }
}
