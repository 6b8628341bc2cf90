using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Sandbox.Storage;

/// <summary>
/// What a store has to write later: history entries (always written in the background, in batches, so executions never
/// wait for the database) and session records whose write failed because the database was away (the caller was told
/// <c>store_unavailable</c>; the record's latest state is written when the database is back, so a write that timed out
/// but reached the database after all is overwritten, never left standing). One loop writes both, retrying every second
/// while the database is away.
/// </summary>
internal sealed partial class StoreBacklog : IAsyncDisposable
{
    private readonly Channel<HistoryEntry> _history = Channel.CreateBounded<HistoryEntry>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.Wait });
    private readonly ConcurrentDictionary<string, SessionRecord> _records = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private readonly List<HistoryEntry> _batch = []; // taken from the queue, not yet written (kept across failed tries)
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<IReadOnlyList<HistoryEntry>, CancellationToken, Task> _writeHistory;
    private readonly Func<SessionRecord, CancellationToken, Task> _writeSession;
    private readonly ILogger _logger;
    private Task? _loop;

    public StoreBacklog(Func<IReadOnlyList<HistoryEntry>, CancellationToken, Task> writeHistory, Func<SessionRecord, CancellationToken, Task> writeSession, ILogger logger)
    {
        _writeHistory = writeHistory;
        _writeSession = writeSession;
        _logger = logger;
    }

    public void Start() => _loop = Task.Run(LoopAsync, CancellationToken.None);

    public void Enqueue(HistoryEntry entry)
    {
        if (!_history.Writer.TryWrite(entry))
        {
            LogHistoryDropped(_logger, entry.SessionId);
        }
    }

    /// <summary>A record the database did not take: its session's latest state is written when it can be.</summary>
    public void Retry(SessionRecord record) => _records[record.Id] = record;

    /// <summary>A newer state of the session was written: an older one waiting here must not overwrite it.</summary>
    public void Saved(string sessionId) => _records.TryRemove(sessionId, out _);

    /// <summary>Writes the queued history now, in batches of up to 1000 (readers call it so they see every entry made
    /// before their read). False when the database refused (the entries stay queued, in order).</summary>
    public async Task<bool> FlushHistoryAsync(CancellationToken ct)
    {
        await _flushLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            while (true)
            {
                while (_batch.Count < 1000 && _history.Reader.TryRead(out var e))
                {
                    _batch.Add(e);
                }
                if (_batch.Count == 0)
                {
                    return true;
                }
                try
                {
                    await _writeHistory(_batch, ct).ConfigureAwait(false);
                }
                catch (SandboxException e)
                {
                    LogWriteFailed(_logger, e.Message);
                    return false;
                }
                _batch.Clear();
            }
        }
        finally
        {
            _flushLock.Release();
        }
    }

    private async Task<bool> FlushRecordsAsync(CancellationToken ct)
    {
        foreach (var (id, record) in _records)
        {
            try
            {
                await _writeSession(record, ct).ConfigureAwait(false);
            }
            catch (SandboxException e)
            {
                LogWriteFailed(_logger, e.Message);
                return false;
            }
            _records.TryRemove(new KeyValuePair<string, SessionRecord>(id, record));
        }
        return true;
    }

    private async Task LoopAsync()
    {
        try
        {
            while (true)
            {
                var waiting = _history.Reader.WaitToReadAsync(_stop.Token).AsTask();
                if (!_records.IsEmpty || _batch.Count > 0)
                {
                    await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1), _stop.Token)).ConfigureAwait(false);
                }
                else if (!await waiting.ConfigureAwait(false))
                {
                    return; // completed and empty: disposal
                }
                var ok = await FlushHistoryAsync(_stop.Token).ConfigureAwait(false) & await FlushRecordsAsync(_stop.Token).ConfigureAwait(false);
                if (!ok)
                {
                    // The database is away: try again a little later, not in a tight loop.
                    await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposal gave up waiting for an unreachable database.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _history.Writer.TryComplete();
        if (_loop is not null)
        {
            // While the database is away the loop keeps trying; at shutdown it gets a few seconds, then what is still
            // queued is lost (and logged).
            var deadline = Task.Delay(TimeSpan.FromSeconds(5));
            while (!_loop.IsCompleted && (_history.Reader.Count > 0 || _batch.Count > 0 || !_records.IsEmpty) && !deadline.IsCompleted)
            {
                await Task.WhenAny(_loop, Task.Delay(100)).ConfigureAwait(false);
            }
            await _stop.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
        }
        var lost = _history.Reader.Count + _batch.Count;
        if (lost > 0 || !_records.IsEmpty)
        {
            LogLost(_logger, lost, _records.Count);
        }
        _stop.Dispose();
        _flushLock.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "History queue full; entry for session {SessionId} dropped")]
    private static partial void LogHistoryDropped(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing to the session store failed (will retry): {Error}")]
    private static partial void LogWriteFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The session store was away at shutdown: {History} history entries and {Records} session records were not written")]
    private static partial void LogLost(ILogger logger, int history, int records);
}
