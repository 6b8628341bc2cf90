using System.Text;

namespace Sandbox.Execution;

/// <summary>
/// One execution as a handle: it runs on its own (not tied to the call that started it), keeps its output as an
/// ordered log of events that readers page through with a cursor, and ends with a result or a failure. Whoever waits
/// can stop waiting without stopping the code; only <see cref="Cancel"/>, the deadline or the session's end stop it.
/// </summary>
internal sealed class TrackedExecution(string id, string sessionId, string owner, ExecutionRequest request, DateTimeOffset startedAt)
{
    private readonly object _sync = new();
    private readonly List<ExecutionEvent> _events = [];
    private readonly CancellationTokenSource _cts = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Its waiter (the call that started it) goes on where the end arrives, not after a hop to another thread.
    private readonly TaskCompletionSource _finished = new();
    private ExecutionResult? _result;
    private SandboxException? _failure;

    public string Id { get; } = id;
    public string SessionId { get; } = sessionId;
    public string Owner { get; } = owner;
    public ExecutionRequest Request { get; } = request;
    public DateTimeOffset StartedAt { get; } = startedAt;

    /// <summary>Stops the code when cancelled (cancel_execution, a caller that gives up while it waits, session close).</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Time spent before the run (sandbox running, safety check), then in the run, in milliseconds.</summary>
    public double CheckMs { get; set; }

    /// <inheritdoc cref="CheckMs"/>
    public double RunMs { get; set; }

    /// <summary>Completes as soon as the end is known (the session is free by then); never faults.</summary>
    public Task Finished => _finished.Task;

    public bool Cancelled { get; private set; }

    public bool Ended
    {
        get
        {
            lock (_sync)
            {
                return _result is not null || _failure is not null;
            }
        }
    }

    public void Append(ExecutionEvent e)
    {
        TaskCompletionSource changed;
        lock (_sync)
        {
            _events.Add(e);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    public void Finish(ExecutionResult? result, SandboxException? failure)
    {
        TaskCompletionSource changed;
        lock (_sync)
        {
            _result = result;
            _failure = failure ?? (result is null ? new SandboxException(SandboxErrorCodes.ExecutionCancelled, "The execution was cancelled.") : null);
            changed = _changed;
        }
        changed.TrySetResult();
        _finished.TrySetResult();
    }

    public void Cancel()
    {
        Cancelled = true;
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Events from <paramref name="cursor"/> on, whether the execution ended, and its result or failure.</summary>
    public (IReadOnlyList<ExecutionEvent> Events, int Next, ExecutionResult? Result, SandboxException? Failure, Task Changed) Read(int cursor)
    {
        lock (_sync)
        {
            var from = Math.Clamp(cursor, 0, _events.Count);
            return (_events.GetRange(from, _events.Count - from), _events.Count, _result, _failure, _changed.Task);
        }
    }

    /// <summary>Waits until there is something after <paramref name="cursor"/>, the execution ended, or the wait is over.</summary>
    public async Task WaitAsync(int cursor, TimeSpan wait, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var (events, _, result, failure, changed) = Read(cursor);
            var left = deadline - DateTime.UtcNow;
            if (events.Count > 0 || result is not null || failure is not null || left <= TimeSpan.Zero)
            {
                return;
            }
            try
            {
                await changed.WaitAsync(left, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    /// <summary>What a reader sees at <paramref name="cursor"/>: the output since then, and the status; for an ended
    /// execution its result (with the output since the cursor in place of the whole output when the cursor is past 0).</summary>
    public ExecutionResult Snapshot(int cursor)
    {
        var (events, next, result, failure, _) = Read(cursor);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var images = new List<ExecutionImage>();
        foreach (var e in events)
        {
            switch (e)
            {
                case OutputEvent { Stream: "stderr" } o:
                    stderr.Append(o.Text);
                    break;
                case OutputEvent o:
                    stdout.Append(o.Text);
                    break;
                case ImageEvent i:
                    images.Add(i.Image);
                    break;
            }
        }
        if (result is not null)
        {
            return result with
            {
                Stdout = cursor <= 0 ? result.Stdout : stdout.ToString(), Stderr = cursor <= 0 ? result.Stderr : stderr.ToString(),
                Images = cursor <= 0 ? result.Images : images, Cursor = next, Timings = new ExecutionTimings(CheckMs, RunMs),
            };
        }
        return new ExecutionResult
        {
            ExecutionId = Id, Stdout = stdout.ToString(), Stderr = stderr.ToString(), Images = images, Cursor = next,
            Status = failure is null ? ExecutionStatus.Running : Cancelled ? ExecutionStatus.Cancelled : ExecutionStatus.Failed,
            Failure = failure is null ? null : new ExecutionFailure(failure.Code, failure.Message),
            DurationMs = (DateTimeOffset.UtcNow - StartedAt).TotalMilliseconds,
        };
    }

    public void Dispose() => _cts.Dispose();
}
