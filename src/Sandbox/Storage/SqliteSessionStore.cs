using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Sandbox.Storage;

/// <summary>
/// The embedded default store: one SQLite file under <see cref="Durability.DurabilityOptions.DataDirectory"/>, WAL mode,
/// schema versioned by <c>PRAGMA user_version</c>. Servers sharing the file (on one machine) never take each other's
/// sessions: sessions are filed by <see cref="SandboxOptions.InstanceId"/>.
/// </summary>
public sealed class SqliteSessionStore : SqlSessionStore
{
    private static readonly string[] SqliteMigrations =
    [
        // 1: sessions and their audit history.
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY, instance TEXT NOT NULL, owner TEXT NOT NULL, image TEXT NOT NULL, limits TEXT NOT NULL,
            idle_timeout_s REAL NOT NULL, container_id TEXT NOT NULL, status TEXT NOT NULL, lost_reason TEXT,
            created_at TEXT NOT NULL, last_used_at TEXT NOT NULL, execution_count INTEGER NOT NULL);
        CREATE INDEX sessions_status ON sessions(instance, status);
        CREATE TABLE history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL,
            at TEXT NOT NULL, language TEXT, code_sha256 TEXT, code_size INTEGER, exit_code INTEGER, error_type TEXT,
            timed_out INTEGER NOT NULL, duration_ms REAL, output TEXT);
        CREATE INDEX history_session ON history(session_id, seq);
        """,
        // 2: agent runs (request without secrets, status, trajectory, diff) as one JSON document each.
        """
        CREATE TABLE agent_runs (
            id TEXT PRIMARY KEY, instance TEXT NOT NULL, session_id TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL);
        CREATE INDEX agent_runs_session ON agent_runs(session_id, started_at);
        CREATE INDEX agent_runs_status ON agent_runs(instance, status);
        """,
        // 3: the isolation tier of each session (older sessions ran in the container tier).
        """
        ALTER TABLE sessions ADD COLUMN isolation TEXT NOT NULL DEFAULT 'Container';
        """,
        // 4: the network of a session with an allow list (patterns and secret names as JSON; never a secret's value).
        """
        ALTER TABLE sessions ADD COLUMN network TEXT;
        """,
        // 5: the repository a session was cloned from (URL, ref, credential name, base commit) and its context mounts.
        """
        ALTER TABLE sessions ADD COLUMN git TEXT;
        ALTER TABLE sessions ADD COLUMN context TEXT;
        """,
        // 6: the servers sharing this store (a cluster), each writing its own row at every heartbeat.
        """
        CREATE TABLE nodes (
            id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, last_seen TEXT NOT NULL,
            sessions INTEGER NOT NULL, capacity INTEGER NOT NULL, images TEXT NOT NULL);
        """,
        // 7: the preview ports a session exposes (a JSON array), so they answer again after a restart.
        """
        ALTER TABLE sessions ADD COLUMN ports TEXT;
        """,
        // 8: single-use links already used (their nonces, until they expire), shared by every server on the store.
        """
        CREATE TABLE used_links (nonce TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
        CREATE INDEX used_links_expiry ON used_links(expires_at);
        """,
        // 9: a session's name (a task name, unique among its owner's open sessions).
        """
        ALTER TABLE sessions ADD COLUMN name TEXT;
        """,
        // 10: a session's metadata (the caller's labels) and environment variables, as JSON objects.
        """
        ALTER TABLE sessions ADD COLUMN metadata TEXT;
        ALTER TABLE sessions ADD COLUMN env TEXT;
        """,
        // 11: a session's own Docker engine (its socket, storage and the images loaded into it), as JSON.
        """
        ALTER TABLE sessions ADD COLUMN docker TEXT;
        """,
    ];

    private readonly string _path;
    private volatile bool _directoryMade;

    /// <summary>Creates the store for the configured data directory.</summary>
    public SqliteSessionStore(IOptions<SandboxOptions> options, IOptions<Durability.DurabilityOptions> durability, ILogger<SqliteSessionStore> logger)
        : base(options?.Value.InstanceId ?? throw new ArgumentNullException(nameof(options)), logger)
    {
        ArgumentNullException.ThrowIfNull(durability);
        _path = Path.Combine(durability.Value.ResolveDataDirectory(), "sandbox.db");
    }

    /// <inheritdoc />
    public override string Location => _path;

    /// <inheritdoc />
    protected override IReadOnlyList<string> Migrations => SqliteMigrations;

    /// <inheritdoc />
    protected override string OpenAdvice => "Make the data directory writable (Sandbox:Durability:DataDirectory) or stop the other server using it.";

    /// <inheritdoc />
    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct)
    {
        if (!_directoryMade)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            _directoryMade = true;
        }
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 5, Pooling = true }.ToString());
        try
        {
            await db.OpenAsync(ct).ConfigureAwait(false);
            await using var pragmas = Command(db, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;");
            await pragmas.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return db;
        }
        catch
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    protected override async Task MigrateAsync(DbConnection db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        await using (var wal = Command(db, "PRAGMA journal_mode=WAL;"))
        {
            await wal.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        int version;
        await using (var read = Command(db, "PRAGMA user_version;"))
        {
            version = Convert.ToInt32(await read.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
        CheckVersion(version);
        for (var v = version; v < SqliteMigrations.Length; v++)
        {
            await using var tx = await db.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(db, SqliteMigrations[v] + $"\nPRAGMA user_version = {v + 1};");
            cmd.Transaction = tx;
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            Migrated(v + 1);
        }
        // Proves the file is writable now rather than at the first execution.
        await using var probe = Command(db, "CREATE TABLE IF NOT EXISTS write_probe (x INTEGER); DROP TABLE write_probe;");
        await probe.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override bool IsUnreachable(Exception e) => false;

    /// <inheritdoc />
    protected override void ClearPools() => SqliteConnection.ClearAllPools();
}
