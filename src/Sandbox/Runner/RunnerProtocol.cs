using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.Runner;

// The engine's half of the runner protocol (Runner/protocol.md describes both halves; Runner/py/ is the other). One
// record per request the engine sends; each is one JSON line whose "op" names it and whose other fields are the
// record's properties in snake_case. Null fields are left out: the runner reads a missing field as its default.

/// <summary>A request to the runner. <see cref="Id"/> is set by <see cref="RunnerConnection"/> when it is sent (an
/// execution's requests carry the execution's id).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(PingRequest), "ping")]
[JsonDerivedType(typeof(AnalyzeRequest), "analyze")]
[JsonDerivedType(typeof(MissingRequest), "missing")]
[JsonDerivedType(typeof(ExecRequest), "exec")]
[JsonDerivedType(typeof(CancelRequest), "cancel")]
[JsonDerivedType(typeof(AckRequest), "ack")]
[JsonDerivedType(typeof(ExecStateRequest), "exec_state")]
[JsonDerivedType(typeof(ReplayRequest), "replay")]
[JsonDerivedType(typeof(EnvRequest), "env")]
[JsonDerivedType(typeof(ListRequest), "list")]
[JsonDerivedType(typeof(DeleteRequest), "delete")]
[JsonDerivedType(typeof(HashRequest), "hash")]
[JsonDerivedType(typeof(ExtractRequest), "extract")]
[JsonDerivedType(typeof(InstallSkillsRequest), "install_skills")]
[JsonDerivedType(typeof(ExtractContextRequest), "extract_context")]
[JsonDerivedType(typeof(RenameRequest), "rename")]
[JsonDerivedType(typeof(SpaceRequest), "space")]
[JsonDerivedType(typeof(SnapshotRequest), "snapshot")]
[JsonDerivedType(typeof(DiffRequest), "diff")]
[JsonDerivedType(typeof(SessionDiffRequest), "session_diff")]
[JsonDerivedType(typeof(ProcStartRequest), "proc_start")]
[JsonDerivedType(typeof(ProcListRequest), "proc_list")]
[JsonDerivedType(typeof(ProcOutputRequest), "proc_output")]
[JsonDerivedType(typeof(ProcInputRequest), "proc_input")]
[JsonDerivedType(typeof(ProcKillRequest), "proc_kill")]
[JsonDerivedType(typeof(CommitsRequest), "commits")]
[JsonDerivedType(typeof(PtyOpenRequest), "pty_open")]
[JsonDerivedType(typeof(PtyInputRequest), "pty_input")]
[JsonDerivedType(typeof(PtyResizeRequest), "pty_resize")]
[JsonDerivedType(typeof(PtyCloseRequest), "pty_close")]
[JsonDerivedType(typeof(DockerStartRequest), "docker_start")]
[JsonDerivedType(typeof(DockerStatusRequest), "docker_status")]
internal abstract record RunnerRequest
{
    /// <summary>The request id its answers carry.</summary>
    public string? Id { get; set; }
}

/// <summary>Is the runner alive; is its interpreter up. Answer: <c>pong</c>.</summary>
internal sealed record PingRequest : RunnerRequest;

/// <summary>Python's own parse of code, for the static safety check. Answer: <c>facts</c>.</summary>
internal sealed record AnalyzeRequest(string Code) : RunnerRequest;

/// <summary>The modules <c>python</c> or <c>node</c> code imports that the session cannot find (for auto_install).
/// Answer: <c>missing</c> {names}.</summary>
internal sealed record MissingRequest(string Language, string Code) : RunnerRequest;

/// <summary>Runs code (<c>python</c> in the kept interpreter unless fresh, <c>bash</c>, <c>node</c>) or an argument
/// vector (<c>argv</c>, never through a shell). Answers: <c>out</c>, <c>image</c>, then <c>done</c>; or <c>error</c>.</summary>
internal sealed record ExecRequest : RunnerRequest
{
    /// <summary><c>python</c>, <c>bash</c>, <c>node</c> or <c>argv</c>.</summary>
    public required string Language { get; init; }
    /// <summary>The code (not for <c>argv</c>).</summary>
    public string? Code { get; init; }
    /// <summary>The program and its arguments (<c>argv</c> only).</summary>
    public IReadOnlyList<string>? Argv { get; init; }
    /// <summary>Extra environment of this command only (<c>argv</c> only).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>Python in a new interpreter, not the kept one.</summary>
    public bool? Fresh { get; init; }
    /// <summary>Characters of each stream sent at most.</summary>
    public int? MaxOutput { get; init; }
    /// <summary>The execution id under which a stream is kept whole in <c>/workspace/.outputs</c>.</summary>
    public string? Spill { get; init; }
    /// <summary>Characters after which a stream starts to be kept.</summary>
    public int? SpillAfter { get; init; }
    /// <summary>The deadline in seconds, remembered for a server that attaches again after a restart.</summary>
    public double? TimeoutS { get; init; }
}

/// <summary>Stops the running command whose id this carries (a state-keeping interrupt first). No answer of its own.</summary>
internal sealed record CancelRequest : RunnerRequest;

/// <summary>The server has the end of execution <see cref="RunnerRequest.Id"/>: nothing to replay. No answer.</summary>
internal sealed record AckRequest : RunnerRequest;

/// <summary>The execution the runner ran last, for a server taking up after a restart. Answer: <c>exec_state</c>.</summary>
internal sealed record ExecStateRequest : RunnerRequest;

/// <summary>Everything execution <see cref="RunnerRequest.Id"/> said so far; it goes on live. Answer: <c>replayed</c>.</summary>
internal sealed record ReplayRequest : RunnerRequest;

/// <summary>The environment of user code from now on, and a CA certificate to trust. Answer: <c>env</c> or <c>error</c>.</summary>
internal sealed record EnvRequest(IReadOnlyDictionary<string, string> Set, string? Ca) : RunnerRequest;

/// <summary>A directory's entries (relative to <c>/workspace</c>). Answer: <c>listing</c> or <c>error</c>.</summary>
internal sealed record ListRequest(string Path, bool? Recursive = null) : RunnerRequest;

/// <summary>Deletes a file or a directory tree. Answer: <c>deleted</c> or <c>error</c>.</summary>
internal sealed record DeleteRequest(string Path) : RunnerRequest;

/// <summary>A file's SHA-256 and size. Answer: <c>hash</c> or <c>error</c>.</summary>
internal sealed record HashRequest(string Path) : RunnerRequest;

/// <summary>Unpacks an archive file of the workspace into a workspace directory, as the sandbox user, checked and
/// staged so a refused archive writes nothing; the archive file is removed. Answer: <c>extracted</c> or <c>error</c>.</summary>
internal sealed record ExtractRequest(string Archive, string Dest, int MaxEntries, long MaxBytes) : RunnerRequest;

/// <summary>Unpacks an archive of skills into a skills folder of the agent's home, each skill replacing one of its name,
/// checked and staged as <see cref="ExtractRequest"/>. Answer: <c>skills</c> (names and descriptions) or <c>error</c>.</summary>
internal sealed record InstallSkillsRequest(string Archive, string Dest, int MaxEntries, long MaxBytes) : RunnerRequest;

/// <summary>Unpacks a caller's context archive into <c>/context/&lt;name&gt;</c> as root (read-only to the sandbox user),
/// checked and staged as <see cref="ExtractRequest"/>. Answer: <c>extracted</c> or <c>error</c>.</summary>
internal sealed record ExtractContextRequest(string Archive, string Name, int MaxEntries, long MaxBytes) : RunnerRequest;

/// <summary>Moves a file into place (an upload's last step). Answer: <c>renamed</c> or <c>error</c>.</summary>
internal sealed record RenameRequest(string Path, string To) : RunnerRequest;

/// <summary>Free and total bytes of the workspace. Answer: <c>space</c>.</summary>
internal sealed record SpaceRequest : RunnerRequest;

/// <summary>Remembers the workspace's files (before an agent run). Answer: <c>snapshot</c> or <c>error</c>.</summary>
internal sealed record SnapshotRequest(bool Baseline = false) : RunnerRequest;

/// <summary>The workspace's changes since the snapshot, as a unified diff. Answer: <c>diff</c> or <c>error</c>.</summary>
internal sealed record DiffRequest(int MaxChars) : RunnerRequest;

/// <summary>The workspace (or the files at or under <paramref name="Path"/>) against the session's baseline, the state
/// before its first agent run, or against <paramref name="Baseline"/> (a baseline file under <c>.sandbox/</c> the engine
/// wrote, such as a named snapshot's). Answer: <c>diff</c>, or <c>error</c> <c>no_baseline</c>.</summary>
internal sealed record SessionDiffRequest(string Path, int MaxChars, string? Baseline = null) : RunnerRequest;

/// <summary>Starts a background process. Answer: <c>proc</c> or <c>error</c>.</summary>
internal sealed record ProcStartRequest(string ProcId, IReadOnlyList<string> Argv, string Cwd, IReadOnlyDictionary<string, string> Env, int Max)
    : RunnerRequest;

/// <summary>The session's background processes. Answer: <c>procs</c>.</summary>
internal sealed record ProcListRequest : RunnerRequest;

/// <summary>A process's output from the cursors on. Answer: <c>proc_output</c> or <c>error</c>.</summary>
internal sealed record ProcOutputRequest(string ProcId, long StdoutFrom, long StderrFrom, int Max) : RunnerRequest;

/// <summary>Writes to a process's stdin, closing it after when asked. Answer: <c>input</c> or <c>error</c>.</summary>
internal sealed record ProcInputRequest(string ProcId, string Text, bool Close) : RunnerRequest;

/// <summary>Kills a process and what it started. Answer: <c>proc</c> or <c>error</c>.</summary>
internal sealed record ProcKillRequest(string ProcId) : RunnerRequest;

/// <summary>Opens a terminal (a shell on a pseudo-terminal). Answer: <c>pty</c> or <c>error</c>; then <c>pty_out</c>
/// and, when the shell ends, <c>pty_exit</c>, all with this id.</summary>
internal sealed record PtyOpenRequest(string TermId, int Cols, int Rows, int Max) : RunnerRequest
{
    /// <summary>A program to run instead of the shell (an agent's own interface), without a shell.</summary>
    public IReadOnlyList<string>? Argv { get; init; }

    /// <summary>Environment added for that program.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    /// <summary>Set-up files written into the program's home (its <c>HOME</c>) where none is yet, by relative name.</summary>
    public IReadOnlyDictionary<string, string>? Files { get; init; }
}

/// <summary>The workspace repository's HEAD and its commits since <paramref name="Since"/> (at most
/// <paramref name="Max"/>, oldest first, with their files). Answer: <c>commits</c>.</summary>
internal sealed record CommitsRequest(string? Since, int Max) : RunnerRequest;

/// <summary>Keystrokes for a terminal. No answer.</summary>
internal sealed record PtyInputRequest(string TermId, string Data) : RunnerRequest;

/// <summary>A terminal's new size. No answer.</summary>
internal sealed record PtyResizeRequest(string TermId, int Cols, int Rows) : RunnerRequest;

/// <summary>Closes a terminal: its shell and what it started are killed. No answer.</summary>
internal sealed record PtyCloseRequest(string TermId) : RunnerRequest;

/// <summary>The runner protocol's JSON: generated at build time, snake_case, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunnerRequest))]
internal sealed partial class RunnerProtocolJson : JsonSerializerContext
{
    /// <summary>One request as the line the runner reads (without the newline).</summary>
    public static byte[] Serialize(RunnerRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, Default.RunnerRequest);
}

/// <summary>Starts the session's own Docker engine (a <c>docker: true</c> session). Answer: <c>docker</c> {state}; or
/// <c>error</c> <c>docker_unavailable</c>.</summary>
internal sealed record DockerStartRequest : RunnerRequest;

/// <summary>The session's Docker engine: <c>starting</c>, <c>running</c> (it answers), <c>exited</c> (with its exit code
/// and the end of its log) or <c>stopped</c>. Answer: <c>docker</c>.</summary>
internal sealed record DockerStatusRequest : RunnerRequest;
