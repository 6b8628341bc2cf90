namespace Sandbox;

/// <summary>Stable, machine-readable error codes shared by every face (REST, MCP, client).</summary>
public static class SandboxErrorCodes
{
    /// <summary>No session with that id exists for this caller.</summary>
    public const string SessionNotFound = "session_not_found";
    /// <summary>The session already runs an execution; calls on one session are not queued.</summary>
    public const string SessionBusy = "session_busy";
    /// <summary>The session's container is gone or its runner died; the session cannot be used.</summary>
    public const string SessionLost = "session_lost";
    /// <summary>A requested limit is above the server's maximum, or a server-wide cap is reached.</summary>
    public const string LimitExceeded = "limit_exceeded";
    /// <summary>Too many sessions or concurrent executions.</summary>
    public const string CapacityExceeded = "capacity_exceeded";
    /// <summary>An operation did not finish in time.</summary>
    public const string Timeout = "timeout";
    /// <summary>The static safety check refused the code.</summary>
    public const string UnsafeCode = "unsafe_code";
    /// <summary>A workspace path is malformed or escapes the workspace.</summary>
    public const string InvalidPath = "invalid_path";
    /// <summary>A file is larger than the configured cap.</summary>
    public const string FileTooLarge = "file_too_large";
    /// <summary>No file or directory at that path.</summary>
    public const string FileNotFound = "file_not_found";
    /// <summary>The Docker engine cannot be reached.</summary>
    public const string EngineUnavailable = "engine_unavailable";
    /// <summary>The session store (the shared database of a cluster) cannot be reached; nothing was changed.</summary>
    public const string StoreUnavailable = "store_unavailable";
    /// <summary>In a cluster: the node that holds the session did not answer; retry (a node silent past
    /// <c>Sandbox:Cluster:NodeTimeout</c> has its sessions reported <c>session_lost</c>).</summary>
    public const string NodeUnavailable = "node_unavailable";
    /// <summary>The request is malformed (unknown language, empty code, bad value).</summary>
    public const string InvalidArgument = "invalid_argument";
    /// <summary>The image is unknown to the server or not built.</summary>
    public const string ImageNotFound = "image_not_found";
    /// <summary>The caller is not allowed to do this.</summary>
    public const string Forbidden = "forbidden";
    /// <summary>No agent run with that id exists in this session.</summary>
    public const string RunNotFound = "run_not_found";
    /// <summary>No tool has that name (the function-calling face).</summary>
    public const string ToolNotFound = "tool_not_found";
    /// <summary>The caller has no volume by that name.</summary>
    public const string VolumeNotFound = "volume_not_found";
    /// <summary>The volume is mounted in a way that refuses the request (written by another session, or deleted while mounted).</summary>
    public const string VolumeBusy = "volume_busy";
    /// <summary>A session's own Docker engine is not available (the container tier, an image without one, an engine that did not start).</summary>
    public const string DockerUnavailable = "docker_unavailable";
    /// <summary>The agent cannot run in this session: its CLI is not in the session's image.</summary>
    public const string AgentUnavailable = "agent_unavailable";
    /// <summary>A package could not be fetched (unknown name or version, no wheel, registry failure); nothing was installed.</summary>
    public const string PackageUnavailable = "package_unavailable";
    /// <summary>The execution was cancelled (by cancel_execution or its caller) before it finished.</summary>
    public const string ExecutionCancelled = "cancelled";
    /// <summary>No such snapshot among the caller's.</summary>
    public const string SnapshotNotFound = "snapshot_not_found";
    /// <summary>No such background process in the session.</summary>
    public const string ProcessNotFound = "process_not_found";
    /// <summary>No such terminal in the session (or it ended).</summary>
    public const string TerminalNotFound = "terminal_not_found";
    /// <summary>No such execution in the session (or it is too old to be remembered).</summary>
    public const string ExecutionNotFound = "execution_not_found";
    /// <summary>The isolation tier asked for (or required by the server) cannot be run by this engine.</summary>
    public const string IsolationUnavailable = "isolation_unavailable";

    /// <summary>A network allow list asks for more than the operator permits (<c>Sandbox:Egress:Allow</c>), or egress is
    /// disabled on this server.</summary>
    public const string EgressNotPermitted = "egress_not_permitted";

    /// <summary>The session's workspace has no room left for what was asked.</summary>
    public const string WorkspaceFull = "workspace_full";

    /// <summary>A git operation failed (the message carries git's own words).</summary>
    public const string GitFailed = "git_failed";

    /// <summary>The git host refused the credentials (or asked for some and none were named).</summary>
    public const string GitAuthFailed = "git_auth_failed";

    /// <summary>The repository has no such branch, tag or commit.</summary>
    public const string GitRefNotFound = "git_ref_not_found";

    /// <summary>The git host has no such repository.</summary>
    public const string GitRepoNotFound = "git_repo_not_found";

    /// <summary>The git host could not be reached (or is not one <c>Sandbox:Git:Hosts</c> permits).</summary>
    public const string GitUnreachable = "git_unreachable";

    /// <summary>The remote refused the push (not a fast-forward, or a server-side rule).</summary>
    public const string GitPushRejected = "git_push_rejected";

    /// <summary>The session's workspace is not a git clone made by <c>create_session(git=…)</c>.</summary>
    public const string NotAGitSession = "not_a_git_session";

    /// <summary>An uploaded archive is not a zip, tar or compressed tar, or is corrupt; nothing was written.</summary>
    public const string InvalidArchive = "invalid_archive";

    /// <summary>An uploaded archive has an entry that would land outside its target (an absolute name, '..', a link
    /// pointing out) or is a special file; nothing was written.</summary>
    public const string UnsafeArchive = "unsafe_archive";

    /// <summary>A rebase met conflicts; nothing was changed.</summary>
    public const string GitConflict = "git_conflict";

    /// <summary>Another open session of the same owner already has the name asked for.</summary>
    public const string NameTaken = "name_taken";

    /// <summary>A setup command of a new session failed; the session was not created.</summary>
    public const string SetupFailed = "setup_failed";

    /// <summary>An unexpected failure inside the engine.</summary>
    public const string Internal = "internal_error";
}

/// <summary>The one exception family of the engine. <see cref="Code"/> is one of <see cref="SandboxErrorCodes"/>.</summary>
public class SandboxException : Exception
{
    /// <summary>Creates an exception with a stable error code and a message that tells the caller what to do next.</summary>
    public SandboxException(string code, string message, Exception? inner = null) : base(message, inner)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
    }

    /// <summary>The stable error code (see <see cref="SandboxErrorCodes"/>).</summary>
    public string Code { get; }

    /// <summary>Optional structured details (for example safety findings) that faces pass on as they are.</summary>
    public object? Details { get; init; }
}
