using System.Collections.Concurrent;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Execution;

/// <summary>
/// The executions this server remembers, per session (the last <see cref="ExecutionService.RememberedPerSession"/>),
/// and how one runs on its own: its events go to its handle, its end is recorded, its session is released, and only
/// then do waiters hear of it. The run starts on the caller's thread and goes on wherever the runner's answers arrive:
/// no thread-pool hop of its own, no pump between the runner's messages and the handle.
/// </summary>
internal sealed class ExecutionHandles(SessionRegistry registry)
{
    private readonly ConcurrentDictionary<string, List<TrackedExecution>> _bySession = new(StringComparer.Ordinal);

    /// <summary>Starts <paramref name="run"/> for <paramref name="execution"/> (its session is claimed); waiters wait
    /// on <see cref="TrackedExecution.Finished"/>, which is set whatever happens.</summary>
    public void Launch(Session session, TrackedExecution execution, Func<Action<ExecutionEvent>, CancellationToken, Task<ExecutionResult>> run,
        Action<ExecutionResult?, SandboxException?> record)
    {
        Remember(execution);
        _ = RunAsync(session, execution, run, record);
    }

    private async Task RunAsync(Session session, TrackedExecution execution, Func<Action<ExecutionEvent>, CancellationToken, Task<ExecutionResult>> run,
        Action<ExecutionResult?, SandboxException?> record)
    {
        ExecutionResult? result = null;
        SandboxException? failure = null;
        try
        {
            result = await run(execution.Append, execution.Token).ConfigureAwait(false);
            record(result, null);
        }
        catch (Exception e)
        {
            if (e is SandboxException { Code: SandboxErrorCodes.SessionLost } lost)
            {
                e = await registry.ExplainAsync(session, lost).ConfigureAwait(false);
            }
            failure = e switch
            {
                // Closing a session mid-run ends its runner in whatever way the moment gives (a cancel, a closed
                // stream, a refused request): the caller hears that the session was closed.
                _ when session.Status == SessionStatus.Closed && e is not SandboxException { Code: SandboxErrorCodes.SessionNotFound } =>
                    new SandboxException(SandboxErrorCodes.SessionNotFound, $"Session {session.Id} was closed while the code ran."),
                SandboxException known => known,
                OperationCanceledException => new SandboxException(SandboxErrorCodes.ExecutionCancelled, "The execution was cancelled."),
                _ => new SandboxException(SandboxErrorCodes.Internal, "The execution failed: " + e.Message, e),
            };
            if (!registry.Detaching)
            {
                // A server that detaches at shutdown leaves the code running; the next server records its end.
                record(null, failure);
            }
        }
        finally
        {
            // The session is free before anyone hears the end: a caller that sees "finished" may run the next
            // code at once (the other order answered it session_busy now and then). Nobody waits in vain either way.
            try
            {
                registry.Release(session, SessionWork.Execution);
            }
            finally
            {
                execution.Finish(result, failure);
            }
        }
        if (result is not null)
        {
            // After the end is published: the acknowledgement is bookkeeping in the runner, not part of the answer.
            await AcknowledgeAsync(session, execution.Id).ConfigureAwait(false);
        }
    }

    /// <summary>Tells the runner the end of an execution arrived, so it lets go of what it kept to replay to a server
    /// that restarts meanwhile (a failure to say so only means a needless replay later, which is refused as done; an
    /// acknowledgement that arrives after the next execution started is ignored by the runner).</summary>
    private static async Task AcknowledgeAsync(Session session, string executionId)
    {
        if (session.Runner is not { } runner)
        {
            return;
        }
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await runner.SendAsync(new AckRequest { Id = executionId }, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>The execution <paramref name="executionId"/> of a session, or null.</summary>
    public TrackedExecution? Find(string sessionId, string executionId)
    {
        if (_bySession.TryGetValue(sessionId, out var list))
        {
            lock (list)
            {
                return list.FirstOrDefault(e => e.Id == executionId);
            }
        }
        return null;
    }

    /// <summary>A session's executions, newest first.</summary>
    public IReadOnlyList<ExecutionSummary> List(string sessionId)
    {
        if (!_bySession.TryGetValue(sessionId, out var list))
        {
            return [];
        }
        lock (list)
        {
            return list.Select(e => e.Snapshot(int.MaxValue)).Zip(list)
                .Select(p => new ExecutionSummary(p.Second.Id, p.Second.Request.Language, p.First.Status, p.Second.StartedAt, p.First.DurationMs))
                .Reverse().ToList();
        }
    }

    /// <summary>Stops a closing session's running executions.</summary>
    public void CancelIn(string sessionId)
    {
        if (_bySession.TryGetValue(sessionId, out var list))
        {
            lock (list)
            {
                foreach (var e in list.Where(e => !e.Ended))
                {
                    e.Cancel();
                }
            }
        }
    }

    /// <summary>Forgets a closed session's executions.</summary>
    public void Forget(string sessionId) => _bySession.TryRemove(sessionId, out _);

    private void Remember(TrackedExecution execution)
    {
        var list = _bySession.GetOrAdd(execution.SessionId, _ => []);
        lock (list)
        {
            list.Add(execution);
            while (list.Count > ExecutionService.RememberedPerSession && list.FindIndex(e => e.Ended) is var i and >= 0)
            {
                list[i].Dispose();
                list.RemoveAt(i);
            }
        }
    }
}
