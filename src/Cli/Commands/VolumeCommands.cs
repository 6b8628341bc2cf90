using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary><c>sandbox volume create|list|delete</c>: named volumes, storage that outlives sessions.</summary>
internal static class VolumeCommands
{
    public static Command Build()
    {
        var volume = new Command("volume", "Named volumes: storage that outlives sessions (mount with the API's create_session volumes)");
        var name = new Argument<string>("name") { Description = "The volume's name (lower-case letters, digits, '.', '_', '-')" };
        var size = new Option<int?>("--size") { Description = "Its size limit in MiB (default 1024)" };
        var create = new Command("create", "Create an empty volume") { name, size };
        CliApp.Handle(create, async (parse, context, ct) =>
        {
            var v = await context.Client.CreateVolumeAsync(parse.GetValue(name)!, parse.GetValue(size), ct).ConfigureAwait(false);
            context.Output.Result(v, () => context.Output.Console.WriteLine($"Volume {v.Name} created ({v.SizeMb} MiB)."));
            return 0;
        });
        var list = new Command("list", "Your volumes");
        CliApp.Handle(list, async (_, context, ct) =>
        {
            var all = await context.Client.ListVolumesAsync(ct).ConfigureAwait(false);
            context.Output.Result(all, () =>
            {
                if (all.Count == 0)
                {
                    context.Output.Console.WriteLine("No volumes. Create one with 'sandbox volume create NAME'.");
                    return;
                }
                var table = new Table().AddColumns("VOLUME", "USED", "SIZE", "FILES", "MOUNTED BY");
                foreach (var v in all)
                {
                    table.AddRow(Markup.Escape(v.Name), v.UsedBytes.ToString("N0", CultureInfo.InvariantCulture), $"{v.SizeMb} MiB",
                        v.Files.ToString(CultureInfo.InvariantCulture), v.Mounts.Count == 0 ? "-" : string.Join(", ", v.Mounts.Select(m => m.SessionId + (m.ReadOnly ? " (ro)" : ""))));
                }
                context.Output.Console.Write(table);
            });
            return 0;
        });
        var force = new Option<bool>("--force") { Description = "Delete even while sessions mount it (they keep their copies; nothing is saved back)" };
        var deleteName = new Argument<string>("name") { Description = "The volume's name" };
        var delete = new Command("delete", "Delete a volume and its files") { deleteName, force };
        CliApp.Handle(delete, async (parse, context, ct) =>
        {
            await context.Client.DeleteVolumeAsync(parse.GetValue(deleteName)!, parse.GetValue(force), ct).ConfigureAwait(false);
            context.Output.Result(new { deleted = parse.GetValue(deleteName) }, () => context.Output.Console.WriteLine($"Volume {parse.GetValue(deleteName)} deleted."));
            return 0;
        });
        volume.Subcommands.Add(create);
        volume.Subcommands.Add(list);
        volume.Subcommands.Add(delete);
        return volume;
    }
}
