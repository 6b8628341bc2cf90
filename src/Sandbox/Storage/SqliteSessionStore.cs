using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Sessions;

namespace Sandbox.Storage;

/// <summary>
/// The embedded default store: one SQLite file under <see cref="Durability.DurabilityOptions.DataDirectory"/> (sessions are filed by
/// <see cref="SandboxOptions.InstanceId"/>, so servers sharing a file never take each other's sessions), WAL mode, schema
/// versioned by <c>PRAGMA user_version</c> with forward migrations. History is written by a background writer in
/// batches so executions never wait for the disk.
/// </summary>
public sealed partial class SqliteSessionStore : ISessionStore
{
    private static readonly string[] Migrations =
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
    ];

    private readonly string _path;
    private readonly string _instance;
    private readonly ILogger<SqliteSessionStore> _logger;
    private readonly Channel<HistoryEntry> _pending = Channel.CreateBounded<HistoryEntry>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.Wait });
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private Task? _writer;

    /// <summary>Creates the store for the configured data directory.</summary>
    public SqliteSessionStore(IOptions<SandboxOptions> options, ILogger<SqliteSessionStore> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _path = Path.Combine(options.Value.Durability.ResolveDataDirectory(), "sandbox.db");
        _instance = options.Value.InstanceId;
        _logger = logger;
    }

    /// <summary>The database file.</summary>
    public string DatabasePath => _path;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            await using var db = await OpenAsync(ct).ConfigureAwait(false);
            await Exec(db, "PRAGMA journal_mode=WAL;", ct).ConfigureAwait(false);
            var version = Convert.ToInt32(await Scalar(db, "PRAGMA user_version;", ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            if (version > Migrations.Length)
            {
                throw new SandboxException(SandboxErrorCodes.Internal,
                    $"The database {_path} has schema version {version}, newer than this server knows ({Migrations.Length}). Use a newer server.");
            }
            for (var v = version; v < Migrations.Length; v++)
            {
                await using var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false);
                await Exec(db, Migrations[v], ct, tx).ConfigureAwait(false);
                await Exec(db, $"PRAGMA user_version = {v + 1};", ct, tx).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                LogMigrated(_logger, _path, v + 1);
            }
            // Proves the file is writable now rather than at the first execution.
            await Exec(db, "CREATE TABLE IF NOT EXISTS write_probe (x INTEGER); DROP TABLE write_probe;", ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            throw new SandboxException(SandboxErrorCodes.Internal,
                $"Cannot open the session store at {_path}: {e.Message}. Make the data directory writable (Sandbox:Durability:DataDirectory) or stop the other server using it.", e);
        }
        _writer = Task.Run(WriteHistoryLoopAsync, CancellationToken.None);
    }

    /// <inheritdoc />
    public async Task SaveSessionAsync(SessionRecord s, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(s);
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO sessions (id, instance, owner, image, limits, idle_timeout_s, container_id, status, lost_reason, created_at, last_used_at, execution_count, isolation, network, git, context)
            VALUES ($id, $instance, $owner, $image, $limits, $idle, $container, $status, $lost, $created, $used, $count, $isolation, $network, $git, $context)
            ON CONFLICT(id) DO UPDATE SET status = $status, lost_reason = $lost, last_used_at = $used, execution_count = $count, container_id = $container, network = $network, git = $git;
            """;
        cmd.Parameters.AddWithValue("$id", s.Id);
        cmd.Parameters.AddWithValue("$instance", _instance);
        cmd.Parameters.AddWithValue("$owner", s.Owner);
        cmd.Parameters.AddWithValue("$image", s.Image);
        cmd.Parameters.AddWithValue("$limits", JsonSerializer.Serialize(s.Limits));
        cmd.Parameters.AddWithValue("$idle", s.IdleTimeout.TotalSeconds);
        cmd.Parameters.AddWithValue("$container", s.ContainerId);
        cmd.Parameters.AddWithValue("$status", s.Status.ToString());
        cmd.Parameters.AddWithValue("$lost", (object?)s.LostReason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$created", s.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$used", s.LastUsedAt.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$count", s.ExecutionCount);
        cmd.Parameters.AddWithValue("$isolation", s.Isolation.ToString());
        cmd.Parameters.AddWithValue("$network", s.Network is null ? DBNull.Value : JsonSerializer.Serialize(s.Network));
        cmd.Parameters.AddWithValue("$git", s.Git is null ? DBNull.Value : JsonSerializer.Serialize(s.Git));
        cmd.Parameters.AddWithValue("$context", s.Context is not { Count: > 0 } ? DBNull.Value : JsonSerializer.Serialize(s.Context));
        await Run(() => cmd.ExecuteNonQueryAsync(ct)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<SessionRecord>> LoadOpenSessionsAsync(CancellationToken ct)
    {
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, owner, image, limits, idle_timeout_s, container_id, status, lost_reason, created_at, last_used_at, execution_count, isolation, network, git, context FROM sessions WHERE instance = $instance AND status <> 'Closed' ORDER BY created_at;";
        cmd.Parameters.AddWithValue("$instance", _instance);
        var list = new List<SessionRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new SessionRecord(r.GetString(0), r.GetString(1), r.GetString(2),
                JsonSerializer.Deserialize<SandboxLimits>(r.GetString(3)) ?? new SandboxLimits(), TimeSpan.FromSeconds(r.GetDouble(4)),
                r.GetString(5), Enum.Parse<SessionStatus>(r.GetString(6)), r.IsDBNull(7) ? null : r.GetString(7),
                DateTimeOffset.Parse(r.GetString(8), CultureInfo.InvariantCulture), DateTimeOffset.Parse(r.GetString(9), CultureInfo.InvariantCulture),
                r.GetInt32(10), Enum.Parse<Sandbox.Isolation.IsolationTier>(r.GetString(11)),
                r.IsDBNull(12) ? null : JsonSerializer.Deserialize<Sandbox.Egress.SessionNetwork>(r.GetString(12)),
                r.IsDBNull(13) ? null : JsonSerializer.Deserialize<Sandbox.Git.GitWorkspace>(r.GetString(13)),
                r.IsDBNull(14) ? null : JsonSerializer.Deserialize<List<string>>(r.GetString(14))));
        }
        return list;
    }

    /// <inheritdoc />
    public void AppendHistory(HistoryEntry entry)
    {
        if (!_pending.Writer.TryWrite(entry))
        {
            LogHistoryDropped(_logger, entry.SessionId);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            SELECT session_id, owner, kind, at, language, code_sha256, code_size, exit_code, error_type, timed_out, duration_ms, output
            FROM (SELECT * FROM history WHERE session_id = $id ORDER BY seq DESC LIMIT $limit) ORDER BY seq;
            """;
        cmd.Parameters.AddWithValue("$id", sessionId);
        cmd.Parameters.AddWithValue("$limit", limit);
        var list = new List<HistoryEntry>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new HistoryEntry(r.GetString(0), r.GetString(1), r.GetString(2), DateTimeOffset.Parse(r.GetString(3), CultureInfo.InvariantCulture),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetInt32(6),
                r.IsDBNull(7) ? null : r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetInt32(9) != 0,
                r.IsDBNull(10) ? null : r.GetDouble(10), r.IsDBNull(11) ? null : r.GetString(11)));
        }
        return list;
    }

    /// <inheritdoc />
    public async Task SaveAgentRunAsync(AgentRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(run);
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            INSERT INTO agent_runs (id, instance, session_id, owner, status, started_at, summary, data)
            VALUES ($id, $instance, $session, $owner, $status, $started, $summary, $data)
            ON CONFLICT(id) DO UPDATE SET status = $status, summary = $summary, data = $data;
            """;
        cmd.Parameters.AddWithValue("$id", run.Id);
        cmd.Parameters.AddWithValue("$instance", _instance);
        cmd.Parameters.AddWithValue("$session", run.SessionId);
        cmd.Parameters.AddWithValue("$owner", run.Owner);
        cmd.Parameters.AddWithValue("$status", run.Status.ToString());
        cmd.Parameters.AddWithValue("$started", run.StartedAt.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$summary", JsonSerializer.Serialize(AgentRunStore.Summary(run), AgentRunStore.Json));
        cmd.Parameters.AddWithValue("$data", JsonSerializer.Serialize(run, AgentRunStore.Json));
        await Run(() => cmd.ExecuteNonQueryAsync(ct)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<AgentRun?> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT data FROM agent_runs WHERE id = $id AND session_id = $session AND owner = $owner;";
        cmd.Parameters.AddWithValue("$id", runId);
        cmd.Parameters.AddWithValue("$session", sessionId);
        cmd.Parameters.AddWithValue("$owner", owner);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is string data ? JsonSerializer.Deserialize<AgentRun>(data, AgentRunStore.Json) : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AgentRun>> ListAgentRunsAsync(string sessionId, string owner, int limit, CancellationToken ct)
    {
        await using var db = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT summary FROM agent_runs WHERE session_id = $session AND owner = $owner ORDER BY started_at DESC LIMIT $limit;";
        cmd.Parameters.AddWithValue("$session", sessionId);
        cmd.Parameters.AddWithValue("$owner", owner);
        cmd.Parameters.AddWithValue("$limit", limit);
        var list = new List<AgentRun>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            if (JsonSerializer.Deserialize<AgentRun>(r.GetString(0), AgentRunStore.Json) is { } run)
            {
                list.Add(run);
            }
        }
        return list;
    }

    /// <inheritdoc />
    public async Task<int> FailInterruptedAgentRunsAsync(string reason, DateTimeOffset at, CancellationToken ct)
    {
        var interrupted = new List<AgentRun>();
        await using (var db = await OpenAsync(ct).ConfigureAwait(false))
        {
            await using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT data FROM agent_runs WHERE instance = $instance AND status = 'Running';";
            cmd.Parameters.AddWithValue("$instance", _instance);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                if (JsonSerializer.Deserialize<AgentRun>(r.GetString(0), AgentRunStore.Json) is { } run)
                {
                    interrupted.Add(run);
                }
            }
        }
        foreach (var run in interrupted)
        {
            await SaveAgentRunAsync(AgentRunStore.Interrupted(run, reason, at), ct).ConfigureAwait(false);
        }
        return interrupted.Count;
    }

    private async Task WriteHistoryLoopAsync()
    {
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            await FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Writes every queued history entry in one transaction.</summary>
    private async Task FlushAsync(CancellationToken ct)
    {
        await _flushLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_pending.Reader.TryPeek(out _))
            {
                return;
            }
            await using var db = await OpenAsync(ct).ConfigureAwait(false);
            await using var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false);
            while (_pending.Reader.TryRead(out var e))
            {
                await using var cmd = db.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT INTO history (session_id, owner, kind, at, language, code_sha256, code_size, exit_code, error_type, timed_out, duration_ms, output)
                    VALUES ($s, $o, $k, $at, $l, $h, $n, $x, $e, $t, $d, $out);
                    """;
                cmd.Parameters.AddWithValue("$s", e.SessionId);
                cmd.Parameters.AddWithValue("$o", e.Owner);
                cmd.Parameters.AddWithValue("$k", e.Kind);
                cmd.Parameters.AddWithValue("$at", e.At.ToString("O", CultureInfo.InvariantCulture));
                cmd.Parameters.AddWithValue("$l", (object?)e.Language ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$h", (object?)e.CodeSha256 ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$n", (object?)e.CodeSize ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$x", (object?)e.ExitCode ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$e", (object?)e.ErrorType ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$t", e.TimedOut ? 1 : 0);
                cmd.Parameters.AddWithValue("$d", (object?)e.DurationMs ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$out", (object?)e.Output ?? DBNull.Value);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            LogWriteFailed(_logger, e.Message);
        }
        finally
        {
            _flushLock.Release();
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 5, Pooling = true }.ToString());
        await db.OpenAsync(ct).ConfigureAwait(false);
        await Exec(db, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;", ct).ConfigureAwait(false);
        return db;
    }

    private static async Task Exec(SqliteConnection db, string sql, CancellationToken ct, SqliteTransaction? tx = null)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<object?> Scalar(SqliteConnection db, string sql, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    private async Task Run(Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, $"The session store at {_path} refused a write: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
        }
        await FlushAsync(CancellationToken.None).ConfigureAwait(false);
        _flushLock.Dispose();
        SqliteConnection.ClearAllPools();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session store {Path} migrated to schema version {Version}")]
    private static partial void LogMigrated(ILogger logger, string path, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "History queue full; entry for session {SessionId} dropped")]
    private static partial void LogHistoryDropped(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing history failed: {Error}")]
    private static partial void LogWriteFailed(ILogger logger, string error);
}
