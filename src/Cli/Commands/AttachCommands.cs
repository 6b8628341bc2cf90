using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Sandbox.Client;

namespace Sandbox.Cli.Commands;

/// <summary><c>attach</c>, <c>shell</c> and <c>logs</c>: the task's terminals from the user's own terminal.</summary>
internal static partial class AttachCommands
{
    private static readonly Argument<string> TaskArg = new("task") { Description = "The task's name" };

    public static Command Attach()
    {
        var readOnly = new Option<bool>("--read-only") { Description = "Watch without typing" };
        var terminal = new Option<string?>("--terminal") { Description = "A terminal id (default: the agent's)" };
        var command = new Command("attach", "Attach to the task's agent terminal: the screen as it is, then live; Ctrl-P Ctrl-Q detaches (the agent keeps working)") { TaskArg, readOnly, terminal };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var session = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var id = parse.GetValue(terminal) ?? await PickTerminalAsync(context, session.Id, parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            return await RunAttachedAsync(context, session.Id, id, parse.GetValue(readOnly), ct).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Shell()
    {
        var command = new Command("shell", "Open a shell in the task's workspace (as the sandbox user); Ctrl-P Ctrl-Q detaches, 'exit' ends it") { TaskArg };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var session = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            return await RunAttachedAsync(context, session.Id, null, readOnly: false, ct).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Logs()
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing what the agent draws until it ends (Ctrl-C stops)" };
        var tail = new Option<int?>("--tail") { Description = "Only the last N lines" };
        var command = new Command("logs", "Print the agent terminal's screen (escape sequences kept on a terminal, stripped when piped)") { TaskArg, follow, tail };
        CliApp.Handle(command, async (parse, context, ct) =>
        {
            var session = await context.FindTaskAsync(parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            var id = await PickTerminalAsync(context, session.Id, parse.GetValue(TaskArg)!, ct).ConfigureAwait(false);
            await using var connection = await context.Client.AttachTerminalAsync(session.Id, id, readOnly: true, Terminal.Columns(), Terminal.Rows(), ct).ConfigureAwait(false);
            var plain = Console.IsOutputRedirected || context.Output.Json;
            var screen = new MemoryStream();
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await using var stdout = Console.OpenStandardOutput();
            var enumerator = connection.ReadAsync(quiet.Token).GetAsyncEnumerator(quiet.Token);
            Task<bool>? pending = null;
            try
            {
                // The replay arrives first; without --follow, a short quiet spell ends it.
                var follows = parse.GetValue(follow);
                while (true)
                {
                    var next = pending = enumerator.MoveNextAsync().AsTask();
                    if (!follows && await Task.WhenAny(next, Task.Delay(TimeSpan.FromMilliseconds(800), ct)).ConfigureAwait(false) != next)
                    {
                        await quiet.CancelAsync().ConfigureAwait(false);
                        break;
                    }
                    pending = null;
                    if (!await next.ConfigureAwait(false) || enumerator.Current.Output is not { } bytes)
                    {
                        break;
                    }
                    if (follows && parse.GetValue(tail) is null)
                    {
                        await WriteAsync(stdout, bytes, plain, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        screen.Write(bytes);
                    }
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
            }
            finally
            {
                // A read still pending ends with the cancellation first: an iterator cannot be disposed mid-step.
                if (pending is not null)
                {
                    try
                    {
                        await pending.ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is OperationCanceledException or System.Net.WebSockets.WebSocketException)
                    {
                    }
                }
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
            var text = Encoding.UTF8.GetString(screen.ToArray());
            if (plain)
            {
                text = Strip(text);
            }
            if (parse.GetValue(tail) is { } n)
            {
                var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
                text = string.Join('\n', lines.Skip(Math.Max(0, lines.Length - n)));
            }
            context.Output.Result(new { task = parse.GetValue(TaskArg), terminal_id = id, screen = text }, () => Console.Write(text));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task WriteAsync(Stream stdout, byte[] bytes, bool plain, CancellationToken ct)
    {
        var data = plain ? Encoding.UTF8.GetBytes(Strip(Encoding.UTF8.GetString(bytes))) : bytes;
        await stdout.WriteAsync(data, ct).ConfigureAwait(false);
        await stdout.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The text without terminal escape sequences (colours, cursor moves, titles).</summary>
    internal static string Strip(string text) => Escapes().Replace(text, "").Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');

    [GeneratedRegex(@"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]|[\x00-\x08\x0b\x0c\x0e-\x1f]")]
    private static partial Regex Escapes();

    /// <summary>The task's agent terminal (else its one running shell), or a clear error.</summary>
    private static async Task<string> PickTerminalAsync(CliContext context, string sessionId, string task, CancellationToken ct)
    {
        var terminals = (await context.Client.ListTerminalsAsync(sessionId, ct).ConfigureAwait(false)).Where(t => t.Running).ToList();
        var pick = terminals.Where(t => t.Kind != "shell").OrderByDescending(t => t.StartedAt).FirstOrDefault()
                   ?? terminals.OrderByDescending(t => t.StartedAt).FirstOrDefault();
        return pick?.TerminalId ?? throw new CliException(ExitCodes.Failed, "no_terminal",
            $"Nothing runs in task '{task}' to attach to (the agent ended, or none was started): 'sandbox {task} shell' opens a shell.");
    }

    /// <summary>Attaches the user's terminal to a session's terminal (a new shell when <paramref name="terminalId"/> is
    /// null) until it ends or the user detaches with Ctrl-P Ctrl-Q. Returns 0 either way.</summary>
    public static async Task<int> RunAttachedAsync(CliContext context, string sessionId, string? terminalId, bool readOnly, CancellationToken ct)
    {
        await using var connection = await context.Client.AttachTerminalAsync(sessionId, terminalId, readOnly, Terminal.Columns(), Terminal.Rows(), ct).ConfigureAwait(false);
        var writer = connection.IsWriter && !readOnly;
        context.Output.Note(writer
            ? $"attached to terminal {connection.TerminalId} (Ctrl-P Ctrl-Q detaches; what runs there goes on)"
            : $"watching terminal {connection.TerminalId} read-only{(readOnly ? "" : ": another client types")} (Ctrl-C stops watching)");
        TerminalEvent? end = null;
        using (writer ? Terminal.RawMode() : null)
        using (writer && !OperatingSystem.IsWindows() ? PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => Resize(connection)) : null)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var input = writer ? Task.Run(() => PumpInputAsync(connection, stop.Token), CancellationToken.None) : null;
            await using var stdout = Console.OpenStandardOutput();
            try
            {
                await foreach (var e in connection.ReadAsync(ct).ConfigureAwait(false))
                {
                    if (e.Output is { } bytes)
                    {
                        await stdout.WriteAsync(bytes, ct).ConfigureAwait(false);
                        await stdout.FlushAsync(ct).ConfigureAwait(false);
                    }
                    else
                    {
                        end = e;
                    }
                }
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }
        var message = end?.Ended switch
        {
            "detached" => $"detached from terminal {connection.TerminalId}: it goes on ('sandbox attach' comes back)",
            "exited" => $"terminal {connection.TerminalId} ended (exit {end.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"})",
            _ => $"the server closed terminal {connection.TerminalId}'s connection",
        };
        context.Output.Note("\r\n" + message);
        context.Output.Result(new { terminal_id = connection.TerminalId, ended = end?.Ended ?? "closed", exit_code = end?.ExitCode }, () => { });
        return end?.Ended is "detached" or "exited" ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static void Resize(SandboxTerminalConnection connection) =>
        _ = connection.ResizeAsync(Terminal.Columns(), Terminal.Rows(), CancellationToken.None).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);

    /// <summary>Sends what the user types. Ctrl-P is held until the next key, so Ctrl-P Ctrl-Q reaches the server
    /// together (and detaches) however the keys were read.</summary>
    private static async Task PumpInputAsync(SandboxTerminalConnection connection, CancellationToken ct)
    {
        // Straight from descriptor 0: Console's own stdin stream edits lines on a terminal (and sets the terminal up for
        // that), which would undo raw mode and hold keys until Enter.
        await using var stdin = OperatingSystem.IsWindows() ? Console.OpenStandardInput()
            : new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
        var decoder = new UTF8Encoding(false).GetDecoder();
        var bytes = new byte[4096];
        var chars = new char[4096 + 4];
        var held = "";
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var n = await stdin.ReadAsync(bytes, ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                var text = held + new string(chars, 0, decoder.GetChars(bytes, 0, n, chars, 0));
                held = "";
                if (text.EndsWith('\u0010') && !text.EndsWith(SandboxTerminalConnection.DetachKeys, StringComparison.Ordinal))
                {
                    held = "\u0010";
                    text = text[..^1];
                }
                if (text.Length > 0)
                {
                    await connection.SendInputAsync(text, ct).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.WebSockets.WebSocketException or IOException or ObjectDisposedException)
        {
            // The connection ended (detached, exited) or the user's input closed.
        }
    }
}
