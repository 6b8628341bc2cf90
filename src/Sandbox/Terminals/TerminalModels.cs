namespace Sandbox.Terminals;

/// <summary>How a client attaches to a terminal.</summary>
public enum TerminalMode
{
    /// <summary>Types into it when nobody else does (the first writer keeps the keyboard; later ones watch).</summary>
    Write,
    /// <summary>Watches only.</summary>
    Read,
}

/// <summary>A terminal as listed.</summary>
/// <param name="Id">Its id.</param>
/// <param name="StartedAt">When it opened.</param>
/// <param name="Viewers">Clients attached now.</param>
/// <param name="HasWriter">Whether one of them holds the keyboard.</param>
/// <param name="Running">False once its shell ended (it is listed no more soon after).</param>
/// <param name="ExitCode">The shell's exit status once it ended.</param>
/// <param name="Kind"><see cref="Shell"/>, or the name of the agent whose own interface runs in it.</param>
/// <param name="EndsAt">When its time limit ends it (agents), if it has one.</param>
public sealed record TerminalInfo(string Id, DateTimeOffset StartedAt, int Viewers, bool HasWriter, bool Running, int? ExitCode,
    string Kind = TerminalInfo.Shell, DateTimeOffset? EndsAt = null)
{
    /// <summary>The kind of a terminal that runs a shell.</summary>
    public const string Shell = "shell";
}

/// <summary>A program a terminal runs instead of a shell (an agent's own interface), and what its end must undo.</summary>
/// <param name="Kind">What it is (the agent's name).</param>
/// <param name="Argv">Program and arguments (no shell).</param>
/// <param name="Env">Environment added for it.</param>
/// <param name="HomeFiles">Set-up files written into its home where none is yet.</param>
/// <param name="MaxLifetime">It is closed this long after it started, attached or not.</param>
/// <param name="Ended">Called once when the terminal has ended (its program exited, it was closed, or its session ended).</param>
internal sealed record TerminalProgram(string Kind, IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Env,
    IReadOnlyDictionary<string, string> HomeFiles, TimeSpan MaxLifetime, Func<Task> Ended);
