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
public sealed record TerminalInfo(string Id, DateTimeOffset StartedAt, int Viewers, bool HasWriter, bool Running, int? ExitCode);
