using System.Data.Common;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sandbox.Storage;

/// <summary>
/// The shared store for several servers (a cluster): PostgreSQL through Npgsql, chosen with
/// <c>Sandbox:Durability:Store=Postgres</c> and <c>Sandbox:Durability:ConnectionString</c>. Same schema, statements and
/// semantics as the SQLite store; the schema version is kept in a <c>schema_version</c> table and migrations run under
/// an advisory lock, so nodes starting together migrate once. A database that cannot be reached is
/// <see cref="SandboxErrorCodes.StoreUnavailable"/>, never a hang: connections time out after 5 s unless the connection
/// string says otherwise.
/// </summary>
public sealed class PostgresSessionStore : SqlSessionStore
{
    /// <summary>The advisory lock key under which migrations run ("sandbox!" as a number).</summary>
    private const long MigrationLock = 0x73616e64626f7821;

    private static readonly string[] PostgresMigrations =
    [
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY, instance TEXT NOT NULL, owner TEXT NOT NULL, image TEXT NOT NULL, limits TEXT NOT NULL,
            idle_timeout_s DOUBLE PRECISION NOT NULL, container_id TEXT NOT NULL, status TEXT NOT NULL, lost_reason TEXT,
            created_at TEXT NOT NULL, last_used_at TEXT NOT NULL, execution_count INTEGER NOT NULL);
        CREATE INDEX sessions_status ON sessions(instance, status);
        CREATE TABLE history (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, session_id TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL,
            at TEXT NOT NULL, language TEXT, code_sha256 TEXT, code_size INTEGER, exit_code INTEGER, error_type TEXT,
            timed_out INTEGER NOT NULL, duration_ms DOUBLE PRECISION, output TEXT);
        CREATE INDEX history_session ON history(session_id, seq);
        """,
        """
        CREATE TABLE agent_runs (
            id TEXT PRIMARY KEY, instance TEXT NOT NULL, session_id TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL);
        CREATE INDEX agent_runs_session ON agent_runs(session_id, started_at);
        CREATE INDEX agent_runs_status ON agent_runs(instance, status);
        """,
        "ALTER TABLE sessions ADD COLUMN isolation TEXT NOT NULL DEFAULT 'Container';",
        "ALTER TABLE sessions ADD COLUMN network TEXT;",
        "ALTER TABLE sessions ADD COLUMN git TEXT; ALTER TABLE sessions ADD COLUMN context TEXT;",
        """
        CREATE TABLE nodes (
            id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, last_seen TEXT NOT NULL,
            sessions INTEGER NOT NULL, capacity INTEGER NOT NULL, images TEXT NOT NULL);
        """,
        "ALTER TABLE sessions ADD COLUMN ports TEXT;",
        "CREATE TABLE used_links (nonce TEXT PRIMARY KEY, expires_at TEXT NOT NULL); CREATE INDEX used_links_expiry ON used_links(expires_at);",
        "ALTER TABLE sessions ADD COLUMN name TEXT;",
        "ALTER TABLE sessions ADD COLUMN metadata TEXT; ALTER TABLE sessions ADD COLUMN env TEXT;",
        "ALTER TABLE sessions ADD COLUMN docker TEXT;",
    ];

    private readonly NpgsqlDataSource _source;
    private readonly string _location;

    /// <summary>Creates the store for the configured connection string.</summary>
    public PostgresSessionStore(IOptions<SandboxOptions> options, IOptions<Durability.DurabilityOptions> durability, ILogger<PostgresSessionStore> logger)
        : base(options?.Value.InstanceId ?? throw new ArgumentNullException(nameof(options)), logger)
    {
        ArgumentNullException.ThrowIfNull(durability);
        var builder = new NpgsqlConnectionStringBuilder(durability.Value.ConnectionString);
        if (!builder.ContainsKey("Timeout"))
        {
            builder.Timeout = 5;
        }
        if (!builder.ContainsKey("Command Timeout"))
        {
            builder.CommandTimeout = 15;
        }
        _location = $"postgres://{builder.Host}:{builder.Port}/{builder.Database}";
        _source = NpgsqlDataSource.Create(builder);
    }

    /// <inheritdoc />
    public override string Location => _location;

    /// <inheritdoc />
    protected override IReadOnlyList<string> Migrations => PostgresMigrations;

    /// <inheritdoc />
    protected override string OpenAdvice => "Check Sandbox:Durability:ConnectionString and that PostgreSQL is running and accepts this server.";

    /// <inheritdoc />
    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct) =>
        await _source.OpenConnectionAsync(ct).ConfigureAwait(false);

    /// <inheritdoc />
    protected override async Task MigrateAsync(DbConnection db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        await using var tx = await db.BeginTransactionAsync(ct).ConfigureAwait(false);
        await Run(db, tx, "SELECT pg_advisory_xact_lock(@key);", ct, ("key", MigrationLock)).ConfigureAwait(false);
        await Run(db, tx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", ct).ConfigureAwait(false);
        int version;
        await using (var read = Command(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version;"))
        {
            read.Transaction = tx;
            version = Convert.ToInt32(await read.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }
        CheckVersion(version);
        for (var v = version; v < PostgresMigrations.Length; v++)
        {
            await Run(db, tx, PostgresMigrations[v], ct).ConfigureAwait(false);
            await Run(db, tx, "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (@v);", ct, ("v", v + 1)).ConfigureAwait(false);
            Migrated(v + 1);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static async Task Run(DbConnection db, DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var cmd = Command(db, sql, args);
        cmd.Transaction = tx;
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override bool IsUnreachable(Exception e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal)
            || p.SqlState.StartsWith("53", StringComparison.Ordinal),
        NpgsqlException n => n.IsTransient || n.InnerException is System.Net.Sockets.SocketException or TimeoutException or IOException,
        TimeoutException or System.Net.Sockets.SocketException or IOException => true,
        _ => false,
    };

    /// <inheritdoc />
    protected override void ClearPools() => _source.Dispose();
}
