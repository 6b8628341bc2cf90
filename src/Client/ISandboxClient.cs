using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>
/// The sandbox server's operations, the same over REST (<see cref="SandboxRestClient"/>) and MCP
/// (<see cref="SandboxMcpClient"/>): same methods, same results, same <see cref="SandboxClientException"/> codes.
/// </summary>
public interface ISandboxClient : IAsyncDisposable
{
    /// <summary>Creates a session (an isolated container with a persistent Python interpreter).</summary>
    Task<SessionDto> CreateSessionAsync(CreateSessionRequest? request = null, CancellationToken cancellationToken = default);

    /// <summary>Runs code and returns the whole result.</summary>
    Task<ExecutionResultDto> ExecuteAsync(string sessionId, ExecuteRequest request, CancellationToken cancellationToken = default);

    /// <summary>An execution's output since <paramref name="cursor"/> and its status, waiting up to
    /// <paramref name="waitSeconds"/> for news while it runs.</summary>
    Task<ExecutionResultDto> GetExecutionAsync(string sessionId, string executionId, int cursor = 0, double? waitSeconds = null, CancellationToken cancellationToken = default);

    /// <summary>Stops a running execution and returns how it ended.</summary>
    Task<ExecutionResultDto> CancelExecutionAsync(string sessionId, string executionId, CancellationToken cancellationToken = default);

    /// <summary>A session's recent executions, newest first.</summary>
    Task<IReadOnlyList<ExecutionSummaryDto>> ListExecutionsAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Bytes <paramref name="offset"/>..+<paramref name="length"/> of an execution's kept output.</summary>
    Task<OutputSliceDto> ReadOutputAsync(string sessionId, string executionId, string stream = "stdout", long offset = 0, int length = 65536, CancellationToken cancellationToken = default);

    /// <summary>The lines of an execution's kept output that match a regular expression.</summary>
    Task<OutputMatchesDto> GrepOutputAsync(string sessionId, string executionId, string pattern, string stream = "stdout", int maxMatches = 100, CancellationToken cancellationToken = default);

    /// <summary>Makes a port a server in the session listens on reachable on a preview origin of its own.</summary>
    Task<SessionDto> ExposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default);

    /// <summary>A short-lived grant (and a browser link) that opens the preview of an exposed port, and nothing else.</summary>
    Task<PreviewDto> OpenPreviewAsync(string sessionId, int port, CancellationToken cancellationToken = default);

    /// <summary>Closes a preview port.</summary>
    Task<SessionDto> UnexposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default);

    /// <summary>Saves a session's workspace as a snapshot.</summary>
    Task<SnapshotDto> SnapshotSessionAsync(string sessionId, string? name = null, CancellationToken cancellationToken = default);

    /// <summary>Your snapshots, newest first.</summary>
    Task<IReadOnlyList<SnapshotDto>> ListSnapshotsAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes a snapshot.</summary>
    Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>Creates an empty named volume (storage that outlives sessions; mount it with
    /// <see cref="CreateSessionRequest.Volumes"/>).</summary>
    Task<VolumeDto> CreateVolumeAsync(string name, int? sizeMb = null, CancellationToken cancellationToken = default);

    /// <summary>Your volumes.</summary>
    Task<IReadOnlyList<VolumeDto>> ListVolumesAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes a volume (with <paramref name="force"/> even while sessions mount it).</summary>
    Task DeleteVolumeAsync(string name, bool force = false, CancellationToken cancellationToken = default);

    /// <summary>Loads an allowed image of the server's engine into the Docker engine of a session created with
    /// <see cref="CreateSessionRequest.Docker"/>; returns the session.</summary>
    Task<SessionDto> LoadDockerImageAsync(string sessionId, string image, CancellationToken cancellationToken = default);

    /// <summary>Recreates a session on its image as it is now, keeping its workspace (agents' conversations included),
    /// name, repository, limits and network; returns the new session (the old one is closed).</summary>
    Task<SessionDto> RestartSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>New sessions with a copy of a session's workspace (fresh interpreters).</summary>
    Task<IReadOnlyList<SessionDto>> ForkSessionAsync(string sessionId, int count = 1, CancellationToken cancellationToken = default);

    /// <summary>A git session's commits since its clone as a patch or bundle (see <see cref="GitExportDto"/>). Over MCP
    /// the patch text is not repeated in the structured answer: read <see cref="GitExportDto.Path"/> or its link.</summary>
    Task<GitExportDto> ExportChangesAsync(string sessionId, ExportChangesRequest? request = null, CancellationToken cancellationToken = default);

    /// <summary>Pushes a git session's current commit to a branch of its repository with the operator's credentials.</summary>
    Task<GitPushDto> PushChangesAsync(string sessionId, PushChangesRequest request, CancellationToken cancellationToken = default);

    /// <summary>Every entry below a workspace directory (at most 10,000; <c>.git</c> listed but not entered).</summary>
    Task<FileTreeDto> ListTreeAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default);

    /// <summary>Unpacks an archive (zip, tar, tar.gz) into a workspace directory (<c>""</c>: the workspace), safely: a
    /// hostile or too large archive is refused and nothing is written.</summary>
    Task<ArchiveExtractionDto> UploadArchiveAsync(string sessionId, string directory, Stream archive, CancellationToken cancellationToken = default);

    /// <summary>Writes a workspace directory (<c>""</c>: all of it, without the session's <c>.sandbox</c> folder) as a
    /// <c>zip</c> or <c>tar.gz</c> to <paramref name="destination"/>.</summary>
    Task DownloadArchiveAsync(string sessionId, string directory, string format, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>Makes a git bundle already in the workspace (uploaded first) the session's repository, so a repository
    /// the server cannot reach can be worked on; pushes then go from the caller's machine.</summary>
    Task<SessionDto> ImportGitBundleAsync(string sessionId, ImportGitBundleRequest request, CancellationToken cancellationToken = default);

    /// <summary>Rebases an imported git session's work onto a newer base that arrives as a bundle (uploaded first);
    /// conflicts change nothing and fail with <c>git_conflict</c>.</summary>
    Task<SessionDto> UpdateGitBaseAsync(string sessionId, UpdateGitBaseRequest request, CancellationToken cancellationToken = default);

    /// <summary>An agent job in one request: a new session (image <c>agent</c> unless named), the editable archive
    /// unpacked into it, and one agent run with its options, skills and MCP servers. With <paramref name="wait"/> (the
    /// default) the answer is the finished job; otherwise the running one (follow it with <see cref="GetAgentJobAsync"/>).</summary>
    Task<AgentJobDto> RunAgentJobAsync(RunAgentJobRequest request, bool wait = true, CancellationToken cancellationToken = default);

    /// <summary>A job by its id: status, result, and links to its workspace, diff and summary.</summary>
    Task<AgentJobDto> GetAgentJobAsync(string jobId, CancellationToken cancellationToken = default);

    /// <summary>Lines of the session's text files matching <paramref name="pattern"/> (an extended regular expression, or
    /// plain text with <paramref name="fixedText"/>), under <paramref name="path"/>, at most <paramref name="maxMatches"/>.</summary>
    Task<CodeSearchDto> SearchCodeAsync(string sessionId, string pattern, string? path = null, bool fixedText = false, bool ignoreCase = false,
        int maxMatches = 200, CancellationToken cancellationToken = default);

    /// <summary>The skills the server bundles (give their names as <see cref="RunAgentRequest.Skills"/>).</summary>
    Task<IReadOnlyList<AgentSkillDto>> ListSkillsAsync(CancellationToken cancellationToken = default);

    /// <summary>The workspace (or one path of it) against its state before the session's first agent run, or against
    /// one of the caller's snapshots (<paramref name="against"/>, a snapshot id).</summary>
    Task<SessionChangesDto> GetSessionDiffAsync(string sessionId, string? path = null, string? against = null, CancellationToken cancellationToken = default);

    /// <summary>What the session's agents changed since before the first run, counted, without the diff.</summary>
    Task<SessionChangesDto> GetSessionSummaryAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>The work in a git session since its base: commits, uncommitted changes, diff stat and diff (cut at
    /// <paramref name="maxDiffChars"/>).</summary>
    Task<GitReviewDto> ReviewChangesAsync(string sessionId, int maxDiffChars = 200_000, CancellationToken cancellationToken = default);

    /// <summary>Commits every change in a git session's workspace with <paramref name="message"/> (nothing to commit is
    /// not an error).</summary>
    Task<GitRunChangesDto> CommitChangesAsync(string sessionId, string message, CancellationToken cancellationToken = default);

    /// <summary>A short-lived link to one file of a session (GET downloads, PUT uploads), usable without the token.</summary>
    Task<FileLinkDto> CreateFileLinkAsync(string sessionId, CreateLinkRequest request, CancellationToken cancellationToken = default);

    /// <summary>Starts a background process beside the session's interpreter.</summary>
    Task<ProcessDto> StartProcessAsync(string sessionId, StartProcessRequest request, CancellationToken cancellationToken = default);

    /// <summary>A session's background processes.</summary>
    Task<IReadOnlyList<ProcessDto>> ListProcessesAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>A background process's output since the cursors, waiting up to <paramref name="waitSeconds"/> for news.</summary>
    Task<ProcessOutputDto> GetProcessOutputAsync(string sessionId, string processId, long stdoutCursor = 0, long stderrCursor = 0, double waitSeconds = 0,
        CancellationToken cancellationToken = default);

    /// <summary>Writes text to a background process's stdin; returns the bytes written.</summary>
    Task<int> SendInputAsync(string sessionId, string processId, string text, bool close = false, CancellationToken cancellationToken = default);

    /// <summary>Kills a background process and everything it started.</summary>
    Task<ProcessDto> KillProcessAsync(string sessionId, string processId, CancellationToken cancellationToken = default);

    /// <summary>Runs code and yields output as it is produced; the last event carries the result.</summary>
    IAsyncEnumerable<ExecutionStreamEvent> ExecuteStreamingAsync(string sessionId, ExecuteRequest request, CancellationToken cancellationToken = default);

    /// <summary>Writes a file into the session's workspace.</summary>
    Task<FileEntryDto> UploadFileAsync(string sessionId, string path, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Reads a file (or a directory as a tar archive) into <paramref name="destination"/>.</summary>
    Task DownloadFileAsync(string sessionId, string path, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>Lists a workspace directory.</summary>
    Task<IReadOnlyList<FileEntryDto>> ListFilesAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes a file or directory tree.</summary>
    Task DeleteFileAsync(string sessionId, string path, CancellationToken cancellationToken = default);

    /// <summary>Closes a session and removes its files.</summary>
    Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Lists your sessions.</summary>
    Task<IReadOnlyList<SessionDto>> ListSessionsAsync(CancellationToken cancellationToken = default);

    /// <summary>The caller's live sessions whose metadata has every key and value of <paramref name="metadata"/>.</summary>
    Task<IReadOnlyList<SessionDto>> ListSessionsAsync(IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default);

    /// <summary>Replaces a session's metadata and/or environment (null leaves one as it is); a new environment restarts
    /// the Python interpreter.</summary>
    Task<SessionDto> UpdateSessionAsync(string sessionId, UpdateSessionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Replaces the allow list of a session created with a network (its secrets stay); returns the session.</summary>
    Task<SessionDto> UpdateNetworkAsync(string sessionId, IReadOnlyList<string> allow, CancellationToken cancellationToken = default);

    /// <summary>One session.</summary>
    Task<SessionDto> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Server health.</summary>
    Task<HealthDto> GetHealthAsync(CancellationToken cancellationToken = default);

    /// <summary>Packages installed in an image.</summary>
    Task<PackagesDto> GetPackagesAsync(string? image = null, CancellationToken cancellationToken = default);

    /// <summary>Installs pip or npm packages into the session (fetched by the server; the session keeps no network).</summary>
    Task<PackageInstallResultDto> InstallPackagesAsync(string sessionId, InstallPackagesRequest request, CancellationToken cancellationToken = default);

    /// <summary>Runs a coding agent in the session's workspace and returns the finished run (without its trajectory;
    /// see <see cref="GetAgentRunAsync"/>). Cancelling kills the agent.</summary>
    Task<AgentRunDto> RunAgentAsync(string sessionId, RunAgentRequest request, CancellationToken cancellationToken = default);

    /// <summary>Continues the conversation of a finished run (<paramref name="runId"/>, or <c>latest</c>) with the next
    /// message: the same agent resumes it in a new run, returned finished. Cancelling kills the agent.</summary>
    Task<AgentRunDto> ContinueAgentAsync(string sessionId, string runId, string prompt, CancellationToken cancellationToken = default);

    /// <summary>Opens a terminal the session holds: a shell, or with <see cref="OpenTerminalRequest.Agent"/> that agent's own
    /// interactive interface, which works on while nobody is attached. Attach with the terminal WebSocket
    /// (<c>/api/sessions/{id}/terminal?terminal=ID</c>).</summary>
    Task<TerminalDto> OpenTerminalAsync(string sessionId, OpenTerminalRequest request, CancellationToken cancellationToken = default);

    /// <summary>The session's terminals.</summary>
    Task<IReadOnlyList<TerminalDto>> ListTerminalsAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Closes a terminal: its shell or agent and what it started are killed.</summary>
    Task CloseTerminalAsync(string sessionId, string terminalId, CancellationToken cancellationToken = default);

    /// <summary>One agent run; <paramref name="includeTrajectory"/> adds every event the agent printed.</summary>
    Task<AgentRunDto> GetAgentRunAsync(string sessionId, string runId, bool includeTrajectory = false, CancellationToken cancellationToken = default);

    /// <summary>The session's agent runs, newest first, without trajectories.</summary>
    Task<IReadOnlyList<AgentRunDto>> ListAgentRunsAsync(string sessionId, CancellationToken cancellationToken = default);
}
