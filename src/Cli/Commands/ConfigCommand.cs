using System.CommandLine;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>sandbox config</c>: which server and token this uses and where each came from; <c>config set</c>.</summary>
internal static class ConfigCommand
{
    public static Command Build()
    {
        var command = new Command("config", "Show the server and token this uses, and where each setting comes from");
        CliApp.Handle(command, (parse, context, ct) =>
        {
            var c = context.Config;
            var masked = c.Token is null ? null : c.Token.Length <= 8 ? "****" : c.Token[..4] + "…" + c.Token[^4..];
            context.Output.Result(new { url = c.Url, url_source = c.UrlSource, token = masked, token_source = c.TokenSource, config_file = c.FilePath, config_file_exists = File.Exists(c.FilePath) }, () =>
            {
                var grid = new Grid().AddColumn().AddColumn().AddColumn();
                grid.AddRow("url", Markup.Escape(c.Url), "[grey]" + Markup.Escape(c.UrlSource) + "[/]");
                grid.AddRow("token", masked is null ? "(none)" : Markup.Escape(masked), "[grey]" + Markup.Escape(c.TokenSource ?? "") + "[/]");
                grid.AddRow("config file", Markup.Escape(c.FilePath), File.Exists(c.FilePath) ? "" : "[grey](none yet)[/]");
                context.Output.Console.Write(grid);
            });
            return Task.FromResult(ExitCodes.Ok);
        });
        var key = new Argument<string>("key") { Description = "url or token" };
        key.AcceptOnlyFromAmong("url", "token");
        var value = new Argument<string?>("value") { Description = "The value (omitted: remove the setting)", Arity = ArgumentArity.ZeroOrOne };
        var set = new Command("set", "Write a setting to the config file (readable by you only)") { key, value };
        CliApp.Handle(set, (parse, context, ct) =>
        {
            CliConfig.Set(parse.GetValue(key)!, parse.GetValue(value));
            context.Output.Result(new { file = CliConfig.FilePathFor(), key = parse.GetValue(key), set = parse.GetValue(value) is not null }, () =>
                context.Output.Console.WriteLine($"{parse.GetValue(key)} {(parse.GetValue(value) is null ? "removed from" : "written to")} {CliConfig.FilePathFor()}"));
            return Task.FromResult(ExitCodes.Ok);
        });
        command.Subcommands.Add(set);
        return command;
    }
}
