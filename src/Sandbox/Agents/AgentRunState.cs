using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Sandbox.Sessions;

namespace Sandbox.Agents;

/// <summary>A live agent run: its growing trajectory, its watchers, and how it ended. Guarded by its own lock.</summary>
internal sealed class AgentRunState : IDisposable
{
    private const int StderrTailChars = 64 * 1024;

    private readonly object _sync = new();
    private readonly List<JsonElement> _trajectory = [];
    private readonly List<Channel<AgentRunEvent>> _watchers = [];
    private readonly StringBuilder _stderr = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource<AgentRun> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IReadOnlyList<string> _secrets;
    private int _trajectoryChars;
    private AgentRun _run;

    internal AgentRunState(AgentRun initial, Session session, IAgentRunner agent, IReadOnlyList<string> secrets, int maxTrajectoryChars)
    {
        _run = initial;
        Session = session;
        Agent = agent;
        _secrets = secrets.Where(s => s.Length >= 8).Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length).ToList();
        MaxTrajectoryChars = maxTrajectoryChars;
    }

    internal string Id => _run.Id;
    internal Session Session { get; }
    internal IAgentRunner Agent { get; }
    /// <summary>The branch asked for, in a git workspace (null: <c>sandbox/&lt;run-id&gt;</c>).</summary>
    internal string? Branch { get; init; }
    /// <summary>For a continuation in a git session: the earlier run's branch and base, which this run keeps.</summary>
    internal Git.GitRunChanges? ContinuesGit { get; init; }
    internal AgentOutcome Outcome { get; } = new();
    internal int MaxTrajectoryChars { get; }
    internal CancellationTokenSource Cancellation { get; } = new();
    /// <summary>Set when the caller (not the deadline) cancelled.</summary>
    internal bool CancelledByCaller { get; private set; }
    /// <summary>Why it was cancelled.</summary>
    internal string CancelReason { get; private set; } = "The run was cancelled by the caller";
    internal Task<AgentRun> Completion => _completion.Task;

    /// <summary>Called once, outside the lock, with the run as it is when the agent first names its conversation (so the
    /// record holds it: a run the server's end interrupts can then be continued).</summary>
    internal Func<AgentRun, Task>? ConversationNamed { get; init; }

    /// <summary>The record's last save in flight (the final save waits for it, so it is never overwritten).</summary>
    internal Task PendingSave { get; private set; } = Task.CompletedTask;

    internal void CancelByCaller(string? reason = null)
    {
        if (!CancelledByCaller && reason is not null)
        {
            CancelReason = reason;
        }
        CancelledByCaller = true;
        try
        {
            Cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Replaces every secret (per-run environment values, the key) in text the agent produced.</summary>
    internal string Redact(string text)
    {
        foreach (var secret in _secrets)
        {
            if (text.Contains(secret, StringComparison.Ordinal))
            {
                text = text.Replace(secret, "[redacted]", StringComparison.Ordinal);
            }
        }
        return text;
    }

    /// <summary>Adds one line the agent printed: a JSON event, or plain text kept as an output event.</summary>
    internal void AddLine(string line)
    {
        line = Redact(line.TrimEnd('\r'));
        if (line.Length == 0)
        {
            return;
        }
        JsonElement element;
        try
        {
            using var doc = JsonDocument.Parse(line);
            element = doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : Wrap(line);
        }
        catch (JsonException)
        {
            element = Wrap(line);
        }
        List<AgentStep> added;
        var named = false;
        lock (_sync)
        {
            if (_trajectoryChars + line.Length > MaxTrajectoryChars)
            {
                _run = _run with { TrajectoryTruncated = true };
                return;
            }
            _trajectoryChars += line.Length;
            _trajectory.Add(element);
            var before = Outcome.Steps.Count;
            var hadConversation = Outcome.Conversation is not null;
            Agent.Interpret(element, _trajectory.Count - 1, Outcome);
            named = !hadConversation && Outcome.Conversation is not null;
            added = Outcome.Steps.GetRange(before, Outcome.Steps.Count - before);
            foreach (var step in added)
            {
                Broadcast(new AgentStepEvent(step));
            }
        }
        if (named && ConversationNamed is { } save)
        {
            var run = Snapshot();
            lock (_sync)
            {
                PendingSave = PendingSave.ContinueWith(_ => save(run), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }
        }
    }

    /// <summary>A commit the agent made: a step of the run (so timelines show it) and an event of its own.</summary>
    internal void AddCommit(AgentCommit commit)
    {
        lock (_sync)
        {
            var files = commit.Files.Count == 1 ? "1 file" : $"{commit.Files.Count} files";
            var step = new AgentStep(Math.Max(0, _trajectory.Count - 1), "commit", ClaudeCodeAgent.Clip($"{commit.Id[..Math.Min(12, commit.Id.Length)]} {commit.Subject} ({files})"));
            Outcome.Steps.Add(step);
            Broadcast(new AgentStepEvent(step));
            Broadcast(new AgentCommitEvent(commit));
        }
    }

    internal void AddStderr(string text)
    {
        lock (_sync)
        {
            _stderr.Append(Redact(text));
            if (_stderr.Length > StderrTailChars)
            {
                _stderr.Remove(0, _stderr.Length - StderrTailChars);
            }
        }
    }

    internal void MarkTruncated()
    {
        lock (_sync)
        {
            _run = _run with { TrajectoryTruncated = true };
        }
    }

    /// <summary>The run as it stands.</summary>
    internal AgentRun Snapshot()
    {
        lock (_sync)
        {
            if (_run.Status != AgentRunStatus.Running)
            {
                return _run; // finished (perhaps not yet published)
            }
            return Build(_run with { DurationMs = _clock.Elapsed.TotalMilliseconds });
        }
    }

    /// <summary>Fixes the run's final fields (watchers are told by <see cref="Publish"/>, once the run is recorded).</summary>
    internal AgentRun Finish(Func<AgentRun, AgentRun> finish)
    {
        lock (_sync)
        {
            _run = finish(Build(_run with { DurationMs = _clock.Elapsed.TotalMilliseconds }));
            return _run;
        }
    }

    /// <summary>Watchers get the finished run and are closed; waiters are released.</summary>
    internal void Publish(AgentRun final)
    {
        lock (_sync)
        {
            Broadcast(new AgentCompletedEvent(final));
            foreach (var w in _watchers)
            {
                w.Writer.TryComplete();
            }
            _watchers.Clear();
        }
        _completion.TrySetResult(final);
    }

    /// <summary>Events from now on, after a replay of the steps so far (a finished run yields only its result).</summary>
    internal ChannelReader<AgentRunEvent> Watch()
    {
        var channel = Channel.CreateUnbounded<AgentRunEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_sync)
        {
            if (_completion.Task.IsCompleted)
            {
                channel.Writer.TryWrite(new AgentCompletedEvent(_completion.Task.Result));
                channel.Writer.TryComplete();
                return channel.Reader;
            }
            channel.Writer.TryWrite(new AgentStartedEvent(Build(_run)));
            foreach (var step in Outcome.Steps)
            {
                channel.Writer.TryWrite(new AgentStepEvent(step));
            }
            _watchers.Add(channel);
        }
        return channel.Reader;
    }

    private AgentRun Build(AgentRun run) => run with
    {
        Trajectory = _trajectory.ToList(),
        Steps = Outcome.Steps.ToList(),
        FinalMessage = Outcome.FinalMessage,
        Turns = Outcome.Turns,
        Usage = Outcome.Usage,
        CostUsd = Outcome.CostUsd,
        Stderr = _stderr.ToString(),
        Conversation = Outcome.Conversation ?? run.Conversation,
    };

    private void Broadcast(AgentRunEvent e)
    {
        foreach (var w in _watchers)
        {
            w.Writer.TryWrite(e);
        }
    }

    private static JsonElement Wrap(string line)
    {
        using var doc = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["type"] = "output", ["text"] = line }));
        return doc.RootElement.Clone();
    }

    /// <inheritdoc />
    public void Dispose() => Cancellation.Dispose();
}
