using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Execution;
using Sandbox.Runner;
using Sandbox.Sessions;
using Sandbox.Storage;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Processes;

/// <summary>
/// Background processes: commands (dev servers, watchers, long jobs) that live beside a session's interpreter. The
/// session is not busy because of them and executions keep working; they share the session's limits (processes,
/// memory), end with it, and keep their whole output in <c>/workspace/.outputs</c> with the recent part in memory.
/// The runner owns them; this service asks it over the session's connection.
/// </summary>
public sealed class ProcessService(SessionRegistry registry, ExecutionSafety safety, SessionJournal journal, IOptions<ProcessOptions> options,
    IOptions<Execution.ExecutionOptions> execution, TimeProvider time)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    private readonly ProcessOptions _options = options.Value;
    private readonly Execution.ExecutionOptions _execution = execution.Value;
    private readonly TimeProvider _time = time;

    /// <summary>Starts a background process.</summary>
    public async Task<ProcessInfo> StartAsync(string sessionId, string owner, ProcessRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var argv = Validate(request);
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        if (request.Command is { } command)
        {
            // The same static check as bash code in execute_code.
            await safety.CheckAsync(session, new ExecutionRequest { Code = command, Language = "bash", Allow = request.Allow }, ct).ConfigureAwait(false);
        }
        var id = "p" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var reply = await AskAsync(session, new ProcStartRequest(id, argv, request.Cwd ?? "", request.Env ?? new Dictionary<string, string>(), _options.MaxPerSession),
            "start_process", ct).ConfigureAwait(false);
        var info = Info(reply.Body);
        var text = request.Command ?? string.Join(' ', argv);
        journal.Record(new HistoryEntry(session.Id, session.Owner, "process", _time.GetUtcNow(), request.Command is null ? "argv" : "bash",
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text))), text.Length, Output: "started " + info.ProcessId));
        return info;
    }

    /// <summary>The session's background processes (running and recently ended).</summary>
    public async Task<IReadOnlyList<ProcessInfo>> ListAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var reply = await AskAsync(session, new ProcListRequest(), "list_processes", ct).ConfigureAwait(false);
        return reply.Body.TryGetProperty("procs", out var procs) && procs.ValueKind == JsonValueKind.Array
            ? procs.EnumerateArray().Select(Info).OrderByDescending(p => p.StartedAt).ToList()
            : [];
    }

    /// <summary>Output since the cursors; waits up to <paramref name="wait"/> for news while the process runs.</summary>
    public async Task<ProcessOutput> GetOutputAsync(string sessionId, string owner, string processId, long stdoutCursor, long stderrCursor,
        TimeSpan wait, int maxBytes, CancellationToken ct)
    {
        if (stdoutCursor < 0 || stderrCursor < 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "cursors must be 0 or more.");
        }
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var deadline = _time.GetUtcNow() + (wait > TimeSpan.FromMinutes(5) ? TimeSpan.FromMinutes(5) : wait);
        while (true)
        {
            var reply = await AskAsync(session, new ProcOutputRequest(processId, stdoutCursor, stderrCursor, Math.Clamp(maxBytes, 1, 1 << 20)),
                "get_process_output", ct).ConfigureAwait(false);
            var info = Info(reply.Body);
            var output = new ProcessOutput(info, Str(reply.Body, "stdout") ?? "", Str(reply.Body, "stderr") ?? "",
                Long(reply.Body, "stdout_next"), Long(reply.Body, "stderr_next"), Long(reply.Body, "stdout_skipped") + Long(reply.Body, "stderr_skipped"));
            if (output.Stdout.Length > 0 || output.Stderr.Length > 0 || !info.Running || _time.GetUtcNow() >= deadline)
            {
                return output;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Writes text to a process's stdin (and closes it when <paramref name="close"/>).</summary>
    public async Task<int> SendInputAsync(string sessionId, string owner, string processId, string text, bool close, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 1 << 20)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "send_input takes at most 1 MiB at a time.");
        }
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var reply = await AskAsync(session, new ProcInputRequest(processId, text, close), "send_input", ct)
            .ConfigureAwait(false);
        return Int(reply.Body, "written") ?? 0;
    }

    /// <summary>Kills a process and everything it started; returns it as it ended.</summary>
    public async Task<ProcessInfo> KillAsync(string sessionId, string owner, string processId, CancellationToken ct)
    {
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var reply = await AskAsync(session, new ProcKillRequest(processId), "kill_process", ct).ConfigureAwait(false);
        var info = Info(reply.Body);
        journal.Record(session, "process", $"killed {info.ProcessId} (exit {info.ExitCode})");
        return info;
    }

    private List<string> Validate(ProcessRequest request)
    {
        if ((request.Command is null) == (request.Argv is null))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "Give either command (a bash line) or argv (a program and its arguments).");
        }
        var argv = request.Command is { } command ? ["/bin/bash", "-c", command] : request.Argv!.ToList();
        if (argv.Count == 0 || argv.Count > 256 || argv.Any(a => a is null || a.Contains('\0', StringComparison.Ordinal)) || argv[0].Length == 0
            || argv.Sum(a => a.Length) > _execution.MaxCodeChars)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "argv must be 1 to 256 strings without NUL characters, the first not empty, within the code size cap.");
        }
        foreach (var (key, value) in request.Env ?? new Dictionary<string, string>())
        {
            if (key.Length is 0 or > 256 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || key.StartsWith("SANDBOX_", StringComparison.Ordinal)
                || value is null || value.Contains('\0', StringComparison.Ordinal) || value.Length > 32_768)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"env '{SafeText.Shorten(key, 64)}': names are letters, digits and '_' (not SANDBOX_*), values up to 32 KiB.");
            }
        }
        return argv;
    }

    private async Task<Session> UsableAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        session.Touch(_time.GetUtcNow());
        return session;
    }

    private static string ProcIdOf(RunnerRequest request) => request switch
    {
        ProcOutputRequest r => r.ProcId,
        ProcInputRequest r => r.ProcId,
        ProcKillRequest r => r.ProcId,
        ProcStartRequest r => r.ProcId,
        _ => "",
    };

    private static async Task<RunnerMessage> AskAsync(Session session, RunnerRequest request, string what, CancellationToken ct)
    {
        var reply = await session.Live.AskAsync(request, AskTimeout, what, ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            var message = SafeText.Shorten(Str(reply.Body, "message") ?? "no reason given", 500);
            throw Str(reply.Body, "code") switch
            {
                "process_not_found" => new SandboxException(SandboxErrorCodes.ProcessNotFound, $"No background process '{SafeText.Shorten(ProcIdOf(request), 64)}' in session {session.Id}."),
                "limit_exceeded" => new SandboxException(SandboxErrorCodes.LimitExceeded, "The session runs as many background processes as it may: " + message + ". Kill one first."),
                "command_not_found" => new SandboxException(SandboxErrorCodes.InvalidArgument, "The program was not found: " + message),
                "invalid_path" or "file_not_found" => new SandboxException(SandboxErrorCodes.InvalidPath, "cwd: " + message),
                _ => new SandboxException(SandboxErrorCodes.InvalidArgument, message),
            };
        }
        return reply;
    }

    private static ProcessInfo Info(JsonElement body) => new(
        Str(body, "proc_id") ?? "", Str(body, "command") ?? "", Bool(body, "running"), Int(body, "exit_code"),
        body.TryGetProperty("started", out var s) && s.TryGetDouble(out var at) ? DateTimeOffset.FromUnixTimeMilliseconds((long)(at * 1000)) : DateTimeOffset.MinValue,
        Long(body, "stdout_bytes"), Long(body, "stderr_bytes"), Str(body, "log"));
}
