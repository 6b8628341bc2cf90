using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Execution;

/// <summary>
/// Code execution in a session's long-lived runner: validation, the static safety check, one execution at a time per
/// session (never queued), the host-enforced deadline, output streaming, and the history entry of every call.
/// Every execution is a handle: it runs on its own, keeps its output for readers with a cursor, and outlives a call
/// that stops waiting for it (<see cref="ExecutionRequest.WaitFor"/>); a caller that cancels while it waits stops it.
/// </summary>
public sealed class ExecutionService : ISessionCloseListener
{
    /// <summary>The languages an execution may name.</summary>
    public static readonly IReadOnlyList<string> Languages = ["python", "bash", "node"];

    /// <summary>Executions a session remembers (the oldest ended ones are forgotten first).</summary>
    public const int RememberedPerSession = 100;

    private readonly SessionRegistry _registry;
    private readonly ExecutionSafety _safety;
    private readonly SessionJournal _journal;
    private readonly ExecutionOptions _options;
    private readonly TimeSpan _killGrace;
    private readonly TimeProvider _time;
    private readonly ExecutionHandles _handles;
    private readonly Packages.AutoInstaller _autoInstaller;

    /// <summary>Creates the service.</summary>
    public ExecutionService(SessionRegistry registry, ExecutionSafety safety, SessionJournal journal, IOptions<ExecutionOptions> options,
        IOptions<SandboxOptions> engine, TimeProvider time, Packages.AutoInstaller autoInstaller)
    {
        ArgumentNullException.ThrowIfNull(options);
        _registry = registry;
        _safety = safety;
        _journal = journal;
        _options = options.Value;
        _killGrace = engine.Value.KillGrace;
        _time = time;
        _handles = new ExecutionHandles(registry);
        _autoInstaller = autoInstaller;
    }

    /// <summary>Runs code and returns the result; with <see cref="ExecutionRequest.WaitFor"/>, returns the output so far
    /// with status running when the code has not finished by then (it keeps running).</summary>
    public async Task<ExecutionResult> ExecuteAsync(string sessionId, string owner, ExecutionRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var execution = Start(sessionId, owner, request);
        try
        {
            var wait = request.WaitFor ?? Timeout.InfiniteTimeSpan;
            await execution.Finished.WaitAsync(wait, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return Budget(execution.Snapshot(0), request.MaxOutputChars);
        }
        catch (OperationCanceledException)
        {
            // The caller gave up while it waited: the code stops too, and the session is free again before this throws.
            execution.Cancel();
            await execution.Finished.ConfigureAwait(false);
            throw;
        }
        var result = execution.Snapshot(0);
        ThrowIfFailed(execution, result);
        return Budget(result, request.MaxOutputChars);
    }

    /// <summary>Runs code, yielding output as it is produced and the result last. With
    /// <see cref="ExecutionRequest.WaitFor"/>, the last event comes when the code has not finished by then: a result
    /// with status running (the code keeps running).</summary>
    /// <remarks>Calls on one session are not queued: a second call while one runs fails with <c>session_busy</c>.
    /// Cancelling (or leaving the stream early) stops the code in the sandbox (the session stays usable) and then throws.</remarks>
    public async IAsyncEnumerable<ExecutionEvent> ExecuteStreamingAsync(string sessionId, string owner, ExecutionRequest request,
        [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var execution = Start(sessionId, owner, request);
        var handedOver = false;
        var waitHit = false;
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (request.WaitFor is { } wait)
        {
            waiting.CancelAfter(wait);
        }
        var events = FollowAsync(execution, 0, waiting.Token).GetAsyncEnumerator(waiting.Token);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await events.MoveNextAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested && waiting.IsCancellationRequested)
                {
                    // Waited long enough: the code keeps running, the caller gets a handle.
                    handedOver = waitHit = true;
                    break;
                }
                if (!more)
                {
                    break;
                }
                handedOver |= events.Current is CompletedEvent;
                yield return events.Current is CompletedEvent done ? new CompletedEvent(Budget(done.Result, request.MaxOutputChars)) : events.Current;
            }
            if (waitHit)
            {
                var snapshot = execution.Snapshot(0);
                ThrowIfFailed(execution, snapshot);
                yield return new CompletedEvent(Budget(snapshot, request.MaxOutputChars));
            }
        }
        finally
        {
            await events.DisposeAsync().ConfigureAwait(false);
            if (!handedOver && !execution.Ended)
            {
                // A consumer that stops listening early stops the code too.
                execution.Cancel();
                await execution.Finished.ConfigureAwait(false);
            }
        }
    }

    /// <summary>An execution's output from <paramref name="cursor"/> on and its status; waits up to
    /// <paramref name="wait"/> for something new while it runs.</summary>
    public async Task<ExecutionResult> GetAsync(string sessionId, string owner, string executionId, int cursor, TimeSpan wait, int? maxOutputChars, CancellationToken ct)
    {
        var execution = Find(sessionId, owner, executionId);
        if (wait > TimeSpan.Zero)
        {
            await execution.WaitAsync(cursor, wait > TimeSpan.FromMinutes(5) ? TimeSpan.FromMinutes(5) : wait, ct).ConfigureAwait(false);
        }
        return Budget(execution.Snapshot(cursor), maxOutputChars);
    }

    /// <summary>An execution's events from <paramref name="cursor"/> on, live until it ends, then its result (a failed
    /// one throws its error). Leaving early does not stop the code.</summary>
    public IAsyncEnumerable<ExecutionEvent> FollowAsync(string sessionId, string owner, string executionId, int cursor, CancellationToken ct) =>
        FollowAsync(Find(sessionId, owner, executionId), cursor, ct);

    /// <summary>Stops a running execution (a state-keeping interrupt first, as a timeout does) and returns its end.</summary>
    public async Task<ExecutionResult> CancelAsync(string sessionId, string owner, string executionId, CancellationToken ct)
    {
        var execution = Find(sessionId, owner, executionId);
        if (!execution.Ended)
        {
            execution.Cancel();
            await execution.Finished.WaitAsync(ct).ConfigureAwait(false);
        }
        return execution.Snapshot(0);
    }

    /// <summary>The session's executions, newest first.</summary>
    public IReadOnlyList<ExecutionSummary> List(string sessionId, string owner) => _handles.List(_registry.Get(sessionId, owner).Id);

    private async IAsyncEnumerable<ExecutionEvent> FollowAsync(TrackedExecution execution, int cursor, [EnumeratorCancellation] CancellationToken ct)
    {
        var next = Math.Max(0, cursor);
        while (true)
        {
            var (events, after, result, failure, changed) = execution.Read(next);
            foreach (var e in events)
            {
                yield return e;
            }
            next = after;
            if (result is not null)
            {
                yield return new CompletedEvent(result with { Cursor = next });
                yield break;
            }
            if (failure is not null)
            {
                throw failure;
            }
            await changed.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    private static void ThrowIfFailed(TrackedExecution execution, ExecutionResult snapshot)
    {
        if (snapshot.Status is ExecutionStatus.Failed or ExecutionStatus.Cancelled)
        {
            var (_, _, _, failure, _) = execution.Read(int.MaxValue);
            throw failure ?? new SandboxException(SandboxErrorCodes.Internal, "The execution ended without a result.");
        }
    }

    private static ExecutionResult Budget(ExecutionResult result, int? maxOutputChars) =>
        maxOutputChars is { } budget ? OutputBudget.Apply(result, budget) : result;

    private TrackedExecution Find(string sessionId, string owner, string executionId)
    {
        var session = _registry.Get(sessionId, owner);
        return _handles.Find(session.Id, executionId) ?? throw new SandboxException(SandboxErrorCodes.ExecutionNotFound,
            $"No execution '{SafeText.Shorten(executionId, 64)}' in session {session.Id} (a session remembers its last {RememberedPerSession}).");
    }

    /// <summary>Validates, claims the session and starts the execution on its own; returns its handle.</summary>
    private TrackedExecution Start(string sessionId, string owner, ExecutionRequest request)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var timeout = ExecutionRules.Validate(request, _options);
        _registry.Claim(session, SessionWork.Execution, $"Session {session.Id} is running another execution. Wait for it to finish (get_execution), cancel it, or use another session.");
        var execution = new TrackedExecution("e" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), session.Id, owner, request, _time.GetUtcNow());
        _handles.Launch(session, execution, async (emit, token) =>
        {
            var started = Stopwatch.GetTimestamp();
            await _registry.EnsureRunningAsync(session, token).ConfigureAwait(false);
            var findings = await _safety.CheckAsync(session, request, token).ConfigureAwait(false);
            // Checked code only: nothing is installed for code the safety check refuses.
            var installed = request.AutoInstall ? await _autoInstaller.InstallMissingAsync(session, owner, request, token).ConfigureAwait(false) : [];
            var checkedAt = Stopwatch.GetTimestamp();
            execution.CheckMs = Stopwatch.GetElapsedTime(started, checkedAt).TotalMilliseconds;
            var result = await new ExecutionRun(session, _registry, emit, _options, _killGrace, _time).RunAsync(execution.Id, request, timeout, findings, token).ConfigureAwait(false);
            execution.RunMs = Stopwatch.GetElapsedTime(checkedAt).TotalMilliseconds;
            return installed.Count == 0 ? result : result with { AutoInstalled = installed };
        }, (result, failure) => ExecutionRules.Record(_journal, _time, session, request, result, failure));
        return execution;
    }

    /// <summary>After a server restart: takes up the execution the session's runner was running (or finished) while no
    /// server was attached, so its handle answers again from the cursor its caller had, under what is left of its
    /// deadline.</summary>
    internal async Task ResumeAsync(Session session, CancellationToken ct)
    {
        var state = await session.Live.AskAsync(new ExecStateRequest(), TimeSpan.FromSeconds(10), "execution state", ct).ConfigureAwait(false);
        if (RunnerJson.Str(state.Body, "exec") is not { } id || !(RunnerJson.Bool(state.Body, "running") || RunnerJson.Bool(state.Body, "done")))
        {
            return;
        }
        var startedAgo = state.Body.TryGetProperty("started_ago", out var ago) && ago.TryGetDouble(out var a) ? TimeSpan.FromSeconds(Math.Max(0, a)) : TimeSpan.Zero;
        var timeout = state.Body.TryGetProperty("timeout", out var t) && t.TryGetDouble(out var total) ? TimeSpan.FromSeconds(total) : _options.DefaultTimeout;
        var left = timeout - startedAgo;
        var request = new ExecutionRequest { Code = "", Language = RunnerJson.Str(state.Body, "language") ?? "python" };
        var sha = RunnerJson.Str(state.Body, "code_sha256");
        var size = RunnerJson.Int(state.Body, "code_size");
        _registry.Claim(session, SessionWork.Execution, $"Session {session.Id} is running another execution.");
        var execution = new TrackedExecution(id, session.Id, session.Owner, request, _time.GetUtcNow() - startedAgo);
        _handles.Launch(session, execution,
            (emit, token) => new ExecutionRun(session, _registry, emit, _options, _killGrace, _time)
                .ResumeAsync(id, request, left > TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100), token),
            (result, failure) => ExecutionRules.Record(_journal, _time, session, request, result, failure, sha, size));
    }

    void ISessionCloseListener.OnClosing(Session session, string reason) => _handles.CancelIn(session.Id);

    Task ISessionCloseListener.OnClosedAsync(Session session, CancellationToken ct)
    {
        _handles.Forget(session.Id);
        return Task.CompletedTask;
    }
}
