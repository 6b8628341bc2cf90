using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Sandbox.Agents;
using Sandbox.Cluster;
using Sandbox.Sessions;

namespace Sandbox.Storage;

/// <summary>
/// What the SQL stores share: one schema (sessions filed by <see cref="SandboxOptions.InstanceId"/>, their history,
/// agent runs, the cluster's nodes), one set of statements written to run unchanged on SQLite and PostgreSQL, forward
/// migrations, a background history writer that batches so executions never wait for the database, and one mapping of
/// database failures: a database that cannot be reached is <see cref="SandboxErrorCodes.StoreUnavailable"/>.
/// A dialect supplies its migrations, its connections and its schema-version bookkeeping.
/// </summary>
public abstract partial class SqlSessionStore : ISessionStore
{
    private readonly ILogger _logger;
    private readonly StoreBacklog _backlog;

    /// <summary>Creates the store for one instance (node).</summary>
    protected SqlSessionStore(string instance, ILogger logger)
    {
        Instance = instance;
        _logger = logger;
        _backlog = new StoreBacklog(WriteHistoryAsync, WriteSessionAsync, logger);
    }

    /// <summary>The instance (node) whose sessions this store files.</summary>
    protected string Instance { get; }

    /// <summary>The forward migrations, in order; version N is the first N applied.</summary>
    protected abstract IReadOnlyList<string> Migrations { get; }

    /// <summary>Where the database is, for messages (a file path, or a host and database; never a password).</summary>
    public abstract string Location { get; }

    /// <summary>Opens a connection ready for statements.</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken ct);

    /// <summary>Applies every migration not yet applied, each in its own transaction, safely when several servers start at once.</summary>
    protected abstract Task MigrateAsync(DbConnection db, CancellationToken ct);

    /// <summary>Whether a failure means the database cannot be reached (as opposed to refusing a statement).</summary>
    protected abstract bool IsUnreachable(Exception e);

    /// <summary>What to tell an operator whose store cannot be opened.</summary>
    protected abstract string OpenAdvice { get; }

    /// <summary>Releases pooled connections at dispose.</summary>
    protected abstract void ClearPools();

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken ct)
    {
        try
        {
            await using var db = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await MigrateAsync(db, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or IOException or UnauthorizedAccessException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new SandboxException(IsUnreachable(e) ? SandboxErrorCodes.StoreUnavailable : SandboxErrorCodes.Internal,
                $"Cannot open the session store at {Location}: {e.Message}. {OpenAdvice}", e);
        }
        _backlog.Start();
    }

    /// <summary>Throws when a database holds a newer schema than this server knows.</summary>
    protected void CheckVersion(int version)
    {
        if (version > Migrations.Count)
        {
            throw new SandboxException(SandboxErrorCodes.Internal,
                $"The session store at {Location} has schema version {version}, newer than this server knows ({Migrations.Count}). Use a newer server.");
        }
    }

    /// <summary>Logs one applied migration.</summary>
    protected void Migrated(int version) => LogMigrated(_logger, Location, version);

    /// <inheritdoc />
    /// <remarks>When the database is away this throws <c>store_unavailable</c> and keeps the record: its session's latest
    /// state is written once the database is back (a timed-out write may still have reached it; the later one wins).</remarks>
    public async Task SaveSessionAsync(SessionRecord s, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(s);
        try
        {
            await WriteSessionAsync(s, ct).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.StoreUnavailable)
        {
            _backlog.Retry(s);
            throw;
        }
        _backlog.Saved(s.Id);
    }

    private Task WriteSessionAsync(SessionRecord s, CancellationToken ct) => Write(ct, """
            INSERT INTO sessions (id, instance, owner, image, limits, idle_timeout_s, container_id, status, lost_reason, created_at, last_used_at, execution_count, isolation, network, git, context, ports, name, metadata, env, docker)
            VALUES (@id, @instance, @owner, @image, @limits, @idle, @container, @status, @lost, @created, @used, @count, @isolation, @network, @git, @context, @ports, @name, @metadata, @env, @docker)
            ON CONFLICT(id) DO UPDATE SET status = @status, lost_reason = @lost, last_used_at = @used, execution_count = @count, container_id = @container, network = @network, git = @git, ports = @ports,
                metadata = @metadata, env = @env, docker = @docker;
            """,
        ("id", s.Id), ("instance", Instance), ("owner", s.Owner), ("image", s.Image), ("limits", JsonSerializer.Serialize(s.Limits)),
        ("idle", s.IdleTimeout.TotalSeconds), ("container", s.ContainerId), ("status", s.Status.ToString()), ("lost", s.LostReason),
        ("created", Time(s.CreatedAt)), ("used", Time(s.LastUsedAt)), ("count", s.ExecutionCount), ("isolation", s.Isolation.ToString()),
        ("network", s.Network is null ? null : JsonSerializer.Serialize(s.Network)), ("git", s.Git is null ? null : JsonSerializer.Serialize(s.Git)),
        ("context", s.Context is not { Count: > 0 } ? null : JsonSerializer.Serialize(s.Context)),
        ("ports", s.Ports is not { Count: > 0 } ? null : JsonSerializer.Serialize(s.Ports)), ("name", s.Name),
        ("metadata", s.Metadata is not { Count: > 0 } ? null : JsonSerializer.Serialize(s.Metadata)), ("env", s.Env is not { Count: > 0 } ? null : JsonSerializer.Serialize(s.Env)),
        ("docker", s.Docker is null ? null : JsonSerializer.Serialize(s.Docker)));

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionRecord>> LoadOpenSessionsAsync(CancellationToken ct) => Query(ct,
        $"SELECT {SessionColumns} FROM sessions WHERE instance = @instance AND status <> 'Closed' ORDER BY created_at;", ReadSession, ("instance", Instance));

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionRecord>> ListOwnerSessionsAsync(string owner, CancellationToken ct) => Query(ct,
        $"SELECT {SessionColumns} FROM sessions WHERE owner = @owner AND status <> 'Closed' ORDER BY created_at;", ReadSession, ("owner", owner));

    private const string SessionColumns =
        "id, owner, image, limits, idle_timeout_s, container_id, status, lost_reason, created_at, last_used_at, execution_count, isolation, network, git, context, instance, ports, name, metadata, env, docker";

    private static SessionRecord ReadSession(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2),
        JsonSerializer.Deserialize<SandboxLimits>(r.GetString(3)) ?? new SandboxLimits(), TimeSpan.FromSeconds(r.GetDouble(4)),
        r.GetString(5), Enum.Parse<SessionStatus>(r.GetString(6)), Text(r, 7), ParseTime(r.GetString(8)), ParseTime(r.GetString(9)),
        r.GetInt32(10), Enum.Parse<Isolation.IsolationTier>(r.GetString(11)), Json<Egress.SessionNetwork>(r, 12), Json<Git.GitWorkspace>(r, 13),
        Json<List<string>>(r, 14), r.GetString(15), Json<List<int>>(r, 16), Text(r, 17), Json<Dictionary<string, string>>(r, 18), Json<Dictionary<string, string>>(r, 19))
    {
        Docker = Json<NestedDocker.NestedDockerInfo>(r, 20),
    };

    /// <inheritdoc />
    public void AppendHistory(HistoryEntry entry) => _backlog.Enqueue(entry);

    /// <inheritdoc />
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct)
    {
        await _backlog.FlushHistoryAsync(ct).ConfigureAwait(false);
        return await Query(ct, """
            SELECT session_id, owner, kind, at, language, code_sha256, code_size, exit_code, error_type, timed_out, duration_ms, output
            FROM (SELECT * FROM history WHERE session_id = @id ORDER BY seq DESC LIMIT @limit) AS recent ORDER BY seq;
            """,
            r => new HistoryEntry(r.GetString(0), r.GetString(1), r.GetString(2), ParseTime(r.GetString(3)), Text(r, 4), Text(r, 5),
                r.IsDBNull(6) ? null : r.GetInt32(6), r.IsDBNull(7) ? null : r.GetInt32(7), Text(r, 8), r.GetInt32(9) != 0,
                r.IsDBNull(10) ? null : r.GetDouble(10), Text(r, 11)),
            ("id", sessionId), ("limit", limit)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task SaveAgentRunAsync(AgentRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(run);
        return Write(ct, """
            INSERT INTO agent_runs (id, instance, session_id, owner, status, started_at, summary, data)
            VALUES (@id, @instance, @session, @owner, @status, @started, @summary, @data)
            ON CONFLICT(id) DO UPDATE SET status = @status, summary = @summary, data = @data;
            """,
            ("id", run.Id), ("instance", Instance), ("session", run.SessionId), ("owner", run.Owner), ("status", run.Status.ToString()),
            ("started", Time(run.StartedAt)), ("summary", JsonSerializer.Serialize(AgentRunStore.Summary(run), AgentRunStore.Json)),
            ("data", JsonSerializer.Serialize(run, AgentRunStore.Json)));
    }

    /// <inheritdoc />
    public async Task<AgentRun?> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct) =>
        (await Query(ct, "SELECT data FROM agent_runs WHERE id = @id AND session_id = @session AND owner = @owner;",
            r => JsonSerializer.Deserialize<AgentRun>(r.GetString(0), AgentRunStore.Json), ("id", runId), ("session", sessionId), ("owner", owner))
            .ConfigureAwait(false)).FirstOrDefault();

    /// <inheritdoc />
    public async Task<string?> FindAgentRunSessionAsync(string owner, string runId, CancellationToken ct) =>
        (await Query(ct, "SELECT session_id FROM agent_runs WHERE id = @id AND owner = @owner;", r => r.GetString(0), ("id", runId), ("owner", owner))
            .ConfigureAwait(false)).FirstOrDefault();

    /// <inheritdoc />
    public async Task<IReadOnlyList<AgentRun>> ListAgentRunsAsync(string sessionId, string owner, int limit, CancellationToken ct) =>
        (await Query(ct, "SELECT summary FROM agent_runs WHERE session_id = @session AND owner = @owner ORDER BY started_at DESC LIMIT @limit;",
            r => JsonSerializer.Deserialize<AgentRun>(r.GetString(0), AgentRunStore.Json), ("session", sessionId), ("owner", owner), ("limit", limit))
            .ConfigureAwait(false)).OfType<AgentRun>().ToList();

    /// <inheritdoc />
    public async Task<int> FailInterruptedAgentRunsAsync(string reason, DateTimeOffset at, CancellationToken ct)
    {
        var interrupted = (await Query(ct, "SELECT data FROM agent_runs WHERE instance = @instance AND status = 'Running';",
            r => JsonSerializer.Deserialize<AgentRun>(r.GetString(0), AgentRunStore.Json), ("instance", Instance)).ConfigureAwait(false)).OfType<AgentRun>().ToList();
        foreach (var run in interrupted)
        {
            await SaveAgentRunAsync(AgentRunStore.Interrupted(run, reason, at), ct).ConfigureAwait(false);
        }
        return interrupted.Count;
    }

    /// <inheritdoc />
    public Task SaveNodeAsync(NodeRecord node, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Write(ct, """
            INSERT INTO nodes (id, url, state, started_at, last_seen, sessions, capacity, images)
            VALUES (@id, @url, @state, @started, @seen, @sessions, @capacity, @images)
            ON CONFLICT(id) DO UPDATE SET url = @url, state = @state, started_at = @started, last_seen = @seen, sessions = @sessions, capacity = @capacity, images = @images;
            """,
            ("id", node.Id), ("url", node.Url), ("state", node.State.ToString()), ("started", Time(node.StartedAt)), ("seen", Time(node.LastSeen)),
            ("sessions", node.Sessions), ("capacity", node.Capacity), ("images", JsonSerializer.Serialize(node.Images)));
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken ct) => Query(ct,
        "SELECT id, url, state, started_at, last_seen, sessions, capacity, images FROM nodes ORDER BY id;",
        r => new NodeRecord(r.GetString(0), r.GetString(1), Enum.Parse<NodeState>(r.GetString(2)), ParseTime(r.GetString(3)), ParseTime(r.GetString(4)),
            r.GetInt32(5), r.GetInt32(6), JsonSerializer.Deserialize<List<string>>(r.GetString(7)) ?? []));

    /// <inheritdoc />
    public async Task<SessionPlace?> LocateSessionAsync(string sessionId, CancellationToken ct) =>
        (await Query(ct, "SELECT id, instance, owner, status, lost_reason FROM sessions WHERE id = @id;",
            r => new SessionPlace(r.GetString(0), r.GetString(1), r.GetString(2), Enum.Parse<SessionStatus>(r.GetString(3)), Text(r, 4)),
            ("id", sessionId)).ConfigureAwait(false)).FirstOrDefault();

    /// <inheritdoc />
    public Task<int> MarkNodeSessionsLostAsync(string node, string reason, CancellationToken ct) => Write(ct,
        "UPDATE sessions SET status = 'Lost', lost_reason = @reason WHERE instance = @node AND status IN ('Creating', 'Ready', 'Paused');",
        ("reason", reason), ("node", node));

    /// <inheritdoc />
    public async Task<bool> UseLinkOnceAsync(string nonce, DateTimeOffset expiresAt, CancellationToken ct)
    {
        await Write(ct, "DELETE FROM used_links WHERE expires_at < @now;", ("now", Time(DateTimeOffset.UtcNow))).ConfigureAwait(false);
        return await Write(ct, "INSERT INTO used_links (nonce, expires_at) VALUES (@nonce, @expires) ON CONFLICT(nonce) DO NOTHING;",
            ("nonce", nonce), ("expires", Time(expiresAt.ToUniversalTime()))).ConfigureAwait(false) == 1;
    }

    /// <summary>Writes a batch of history entries in one transaction.</summary>
    private async Task WriteHistoryAsync(IReadOnlyList<HistoryEntry> batch, CancellationToken ct)
    {
        try
        {
            await using var db = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await db.BeginTransactionAsync(ct).ConfigureAwait(false);
            foreach (var e in batch)
            {
                await using var cmd = Command(db, """
                    INSERT INTO history (session_id, owner, kind, at, language, code_sha256, code_size, exit_code, error_type, timed_out, duration_ms, output)
                    VALUES (@s, @o, @k, @at, @l, @h, @n, @x, @e, @t, @d, @out);
                    """,
                    ("s", e.SessionId), ("o", e.Owner), ("k", e.Kind), ("at", Time(e.At)), ("l", e.Language), ("h", e.CodeSha256), ("n", e.CodeSize),
                    ("x", e.ExitCode), ("e", e.ErrorType), ("t", e.TimedOut ? 1 : 0), ("d", e.DurationMs), ("out", e.Output));
                cmd.Transaction = tx;
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            throw Failure(e, "refused history entries");
        }
    }

    /// <summary>Runs one statement; a database that cannot be reached is <c>store_unavailable</c>, any other refusal an internal error.</summary>
    private async Task<int> Write(CancellationToken ct, string sql, params (string Name, object? Value)[] args)
    {
        try
        {
            await using var db = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(db, sql, args);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            throw Failure(e, "refused a write");
        }
    }

    /// <summary>Runs one query and maps each row.</summary>
    private async Task<IReadOnlyList<T>> Query<T>(CancellationToken ct, string sql, Func<DbDataReader, T> map, params (string Name, object? Value)[] args)
    {
        try
        {
            await using var db = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(db, sql, args);
            var list = new List<T>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(map(r));
            }
            return list;
        }
        catch (Exception e) when (e is DbException or TimeoutException or System.Net.Sockets.SocketException or IOException)
        {
            throw Failure(e, "failed a read");
        }
    }

    private SandboxException Failure(Exception e, string what) => IsUnreachable(e)
        ? new SandboxException(SandboxErrorCodes.StoreUnavailable, $"The session store at {Location} cannot be reached: {e.Message}", e)
        : new SandboxException(SandboxErrorCodes.Internal, $"The session store at {Location} {what}: {e.Message}", e);

    /// <summary>A command with named parameters (<c>@name</c>, which both dialects accept); null is SQL NULL.</summary>
    protected static DbCommand Command(DbConnection db, string sql, params (string Name, object? Value)[] args)
    {
        ArgumentNullException.ThrowIfNull(db);
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private static string Time(DateTimeOffset t) => t.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture);

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static T? Json<T>(DbDataReader r, int i) where T : class => r.IsDBNull(i) ? null : JsonSerializer.Deserialize<T>(r.GetString(i));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _backlog.DisposeAsync().ConfigureAwait(false);
        ClearPools();
        GC.SuppressFinalize(this);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session store {Location} migrated to schema version {Version}")]
    private static partial void LogMigrated(ILogger logger, string location, int version);

}
