namespace Sandbox.Durability;

/// <summary>Session store implementations.</summary>
public enum StoreKind
{
    /// <summary>Embedded SQLite file (sessions and history survive restarts).</summary>
    Sqlite,
    /// <summary>In memory only.</summary>
    Memory,
}

/// <summary>Where sessions are kept and what happens to them across restarts, bound from <c>Sandbox:Durability</c>.</summary>
public sealed class DurabilityOptions
{
    /// <summary>Where sessions and their history are kept: <c>Sqlite</c> (default) or <c>Memory</c> (nothing survives a restart).</summary>
    public StoreKind Store { get; set; } = StoreKind.Sqlite;

    /// <summary>Directory of the SQLite store. Empty: <c>$XDG_DATA_HOME/sandbox</c> or <c>~/.local/share/sandbox</c>.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>At shutdown, keep session sandboxes running so a restarted server resumes them (default), or remove them.</summary>
    public bool KeepSessionsOnShutdown { get; set; } = true;

    /// <summary>The data directory in force.</summary>
    public string ResolveDataDirectory() => !string.IsNullOrWhiteSpace(DataDirectory) ? DataDirectory
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "sandbox");
}
