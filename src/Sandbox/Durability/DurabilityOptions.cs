namespace Sandbox.Durability;

/// <summary>Session store implementations.</summary>
public enum StoreKind
{
    /// <summary>Embedded SQLite file (sessions and history survive restarts).</summary>
    Sqlite,
    /// <summary>In memory only.</summary>
    Memory,
    /// <summary>PostgreSQL (<see cref="DurabilityOptions.ConnectionString"/>): one store shared by the servers of a cluster.</summary>
    Postgres,
}

/// <summary>Where sessions are kept and what happens to them across restarts, bound from <c>Sandbox:Durability</c>.</summary>
public sealed class DurabilityOptions : System.ComponentModel.DataAnnotations.IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Durability";

    /// <summary>Where sessions and their history are kept: <c>Sqlite</c> (default), <c>Postgres</c> (a cluster's shared
    /// store) or <c>Memory</c> (nothing survives a restart).</summary>
    public StoreKind Store { get; set; } = StoreKind.Sqlite;

    /// <summary>The PostgreSQL connection string (Npgsql syntax, e.g. <c>Host=db;Username=sandbox;Password=…;Database=sandbox</c>)
    /// when <see cref="Store"/> is <c>Postgres</c>. A secret: give it through the environment, never in a file in git.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Directory of the SQLite store. Empty: <c>$XDG_DATA_HOME/sandbox</c> or <c>~/.local/share/sandbox</c>.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>At shutdown, keep session sandboxes running so a restarted server resumes them (default), or remove them.</summary>
    public bool KeepSessionsOnShutdown { get; set; } = true;

    /// <summary>The data directory in force.</summary>
    public string ResolveDataDirectory() => !string.IsNullOrWhiteSpace(DataDirectory) ? DataDirectory
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "sandbox");

    /// <inheritdoc />
    public IEnumerable<System.ComponentModel.DataAnnotations.ValidationResult> Validate(System.ComponentModel.DataAnnotations.ValidationContext validationContext)
    {
        if (Store == StoreKind.Postgres && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new("Store is Postgres but ConnectionString is empty.", [nameof(ConnectionString)]);
        }
        if (Store == StoreKind.Postgres && !string.IsNullOrWhiteSpace(ConnectionString))
        {
            string? problem = null;
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
            }
            catch (ArgumentException e)
            {
                problem = e.Message;
            }
            if (problem is not null)
            {
                // The message names the bad keyword, never the string (it may hold a password).
                yield return new($"not a valid PostgreSQL connection string: {problem}", [nameof(ConnectionString)]);
            }
        }
    }
}
