using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary><see cref="ISandboxClient"/> over MCP (Streamable HTTP or stdio) with the official MCP C# client.</summary>
public sealed partial class SandboxMcpClient : ISandboxClient
{
    private readonly McpToolCaller _tools;

    /// <summary>Wraps a connected MCP client; it is disposed with this object.</summary>
    public SandboxMcpClient(McpClient mcp)
    {
        ArgumentNullException.ThrowIfNull(mcp);
        _tools = new McpToolCaller(mcp);
    }

    /// <summary>Connects to <c>http://host:port/mcp</c> over Streamable HTTP.</summary>
    public static async Task<SandboxMcpClient> ConnectHttpAsync(Uri endpoint, string? token = null, CancellationToken cancellationToken = default)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = string.IsNullOrEmpty(token) ? null : new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        });
        return new SandboxMcpClient(await McpClient.CreateAsync(transport, cancellationToken: cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Starts the server as a child process in <c>--stdio</c> mode (e.g. <c>dotnet</c>, <c>[path/Sandbox.Server.dll, --stdio]</c>).</summary>
    public static async Task<SandboxMcpClient> ConnectStdioAsync(string command, IList<string> arguments, CancellationToken cancellationToken = default)
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions { Name = "sandbox", Command = command, Arguments = arguments });
        return new SandboxMcpClient(await McpClient.CreateAsync(transport, cancellationToken: cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async Task<SessionDto> CreateSessionAsync(CreateSessionRequest? request = null, CancellationToken cancellationToken = default)
    {
        var l = request?.Limits;
        var args = new Dictionary<string, object?>
        {
            ["image"] = request?.Image, ["memory_mb"] = l?.MemoryMb, ["cpus"] = l?.Cpus, ["pids"] = l?.Pids,
            ["workspace_mb"] = l?.WorkspaceMb, ["ttl_seconds"] = request?.IdleTimeoutSeconds, ["isolation"] = request?.Isolation,
            ["network_allow"] = request?.Network?.Allow, ["network_secrets"] = request?.Network?.Secrets, ["from_snapshot"] = request?.FromSnapshot,
            ["git_url"] = request?.Git?.Url, ["git_ref"] = request?.Git?.Ref, ["git_credentials"] = request?.Git?.Credentials, ["git_shallow"] = request?.Git?.Shallow ?? false, ["git_submodules"] = request?.Git?.Submodules ?? false,
            ["setup"] = request?.Setup, ["context"] = request?.Context, ["context_archives"] = request?.ContextArchives, ["name"] = request?.Name,
            ["metadata"] = request?.Metadata, ["env"] = request?.Env, ["volumes"] = request?.Volumes,
            ["docker"] = request?.Docker ?? false, ["docker_images"] = request?.DockerImages, ["docker_storage_mb"] = request?.DockerStorageMb,
        };
        if (l is { NoFile: not null } or { FileSizeMb: not null } or { TmpMb: not null })
        {
            throw new SandboxClientException("invalid_argument", "Over MCP, create_session accepts memory_mb, cpus, pids and workspace_mb limits only.");
        }
        var s = await _tools.CallAsync("create_session", args, cancellationToken).ConfigureAwait(false);
        return McpToolCaller.Get<SessionDto>(s, "session");
    }

    /// <inheritdoc />
    public async Task<ExecutionResultDto> ExecuteAsync(string sessionId, ExecuteRequest request, CancellationToken cancellationToken = default)
    {
        var result = await _tools.CallRawAsync("execute_code", McpExecutions.Args(sessionId, request), null, cancellationToken).ConfigureAwait(false);
        return McpExecutions.ToResult(result);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ExecutionStreamEvent> ExecuteStreamingAsync(string sessionId, ExecuteRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Progress notifications carry the output; their numbers restore the order the transport may not keep.
        var channel = Channel.CreateUnbounded<ProgressNotificationValue>();
        var progress = new McpExecutions.ChannelProgress(channel.Writer);
        var call = _tools.CallRawAsync("execute_code", McpExecutions.Args(sessionId, request), progress, cancellationToken);
        _ = call.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var pending = new SortedDictionary<float, ProgressNotificationValue>();
        float next = 1;
        await foreach (var value in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            pending[value.Progress] = value;
            while (pending.Remove(next, out var ready))
            {
                next++;
                yield return McpExecutions.ToOutputEvent(ready);
            }
        }
        var result = await call.ConfigureAwait(false);
        foreach (var late in pending.Values)
        {
            yield return McpExecutions.ToOutputEvent(late);
        }
        yield return new ExecutionStreamEvent { Type = "result", Result = McpExecutions.ToResult(result) };
    }

    /// <inheritdoc />
    public async Task<FileEntryDto> UploadFileAsync(string sessionId, string path, Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        var s = await _tools.CallAsync("upload_file", new()
        {
            ["session_id"] = sessionId, ["path"] = path, ["content_base64"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length),
        }, cancellationToken).ConfigureAwait(false);
        return McpToolCaller.Get<FileEntryDto>(s, "file");
    }

    /// <inheritdoc />
    public async Task DownloadFileAsync(string sessionId, string path, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var result = await _tools.CallRawAsync("download_file", new() { ["session_id"] = sessionId, ["path"] = path }, null, cancellationToken).ConfigureAwait(false);
        var bytes = result.Content.FirstOrDefault() switch
        {
            TextContentBlock t => System.Text.Encoding.UTF8.GetBytes(t.Text),
            ImageContentBlock i => i.DecodedData.ToArray(),
            EmbeddedResourceBlock { Resource: BlobResourceContents b } => b.DecodedData.ToArray(),
            _ => throw new SandboxClientException("protocol_error", "download_file returned no file content."),
        };
        await destination.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<FileEntryDto>> ListFilesAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<FileEntryDto>>("list_files", new() { ["session_id"] = sessionId, ["path"] = directory }, "files", cancellationToken);

    /// <inheritdoc />
    public Task DeleteFileAsync(string sessionId, string path, CancellationToken cancellationToken = default) =>
        _tools.CallAsync("delete_file", new() { ["session_id"] = sessionId, ["path"] = path }, cancellationToken);

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync("close_session", new() { ["session_id"] = sessionId }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionDto>> ListSessionsAsync(CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<SessionDto>>("list_sessions", new(), "sessions", cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionDto>> ListSessionsAsync(IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<SessionDto>>("list_sessions", new() { ["metadata"] = metadata }, "sessions", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> UpdateSessionAsync(string sessionId, UpdateSessionRequest request, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("update_session", new() { ["session_id"] = sessionId, ["metadata"] = request?.Metadata, ["env"] = request?.Env }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> UpdateNetworkAsync(string sessionId, IReadOnlyList<string> allow, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("update_network", new() { ["session_id"] = sessionId, ["allow"] = allow }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("get_session_info", new() { ["session_id"] = sessionId }, "session", cancellationToken);

    /// <inheritdoc />
    public async Task<HealthDto> GetHealthAsync(CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("get_health", new(), cancellationToken).ConfigureAwait(false)).Deserialize<HealthDto>(SandboxJson.Options)
        ?? throw new SandboxClientException("protocol_error", "Empty health report.");

    /// <inheritdoc />
    public async Task<PackagesDto> GetPackagesAsync(string? image = null, CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("get_packages", new() { ["image"] = image }, cancellationToken).ConfigureAwait(false)).Deserialize<PackagesDto>(SandboxJson.Options)
        ?? throw new SandboxClientException("protocol_error", "Empty package list.");

    /// <inheritdoc />
    public async Task<PackageInstallResultDto> InstallPackagesAsync(string sessionId, InstallPackagesRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await _tools.CallAsync<PackageInstallResultDto>("install_packages", new()
        {
            ["session_id"] = sessionId, ["packages"] = request.Packages, ["manager"] = request.Manager ?? "pip",
        }, "result", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<SessionDto> ExposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("expose_port", new() { ["session_id"] = sessionId, ["port"] = port }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<PreviewDto> OpenPreviewAsync(string sessionId, int port, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<PreviewDto>("open_preview", new() { ["session_id"] = sessionId, ["port"] = port }, "preview", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> UnexposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("unexpose_port", new() { ["session_id"] = sessionId, ["port"] = port }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<SnapshotDto> SnapshotSessionAsync(string sessionId, string? name = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SnapshotDto>("snapshot_session", new() { ["session_id"] = sessionId, ["name"] = name }, "snapshot", cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SnapshotDto>> ListSnapshotsAsync(CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<SnapshotDto>>("list_snapshots", new(), "snapshots", cancellationToken);

    /// <inheritdoc />
    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync("delete_snapshot", new() { ["snapshot_id"] = snapshotId }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionDto>> ForkSessionAsync(string sessionId, int count = 1, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<SessionDto>>("fork_session", new() { ["session_id"] = sessionId, ["count"] = count }, "sessions", cancellationToken);

    /// <inheritdoc />
    public Task<GitExportDto> ExportChangesAsync(string sessionId, ExportChangesRequest? request = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<GitExportDto>("export_changes", new()
        {
            ["session_id"] = sessionId, ["format"] = request?.Format ?? "patch", ["commit_message"] = request?.CommitMessage,
        }, "export", cancellationToken);

    /// <inheritdoc />
    public async Task<GitPushDto> PushChangesAsync(string sessionId, PushChangesRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await _tools.CallAsync<GitPushDto>("push_changes", new()
        {
            ["session_id"] = sessionId, ["remote_branch"] = request.RemoteBranch, ["force"] = request.Force, ["commit_message"] = request.CommitMessage,
        }, "push", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<FileTreeDto> ListTreeAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<FileTreeDto>("list_files", new() { ["session_id"] = sessionId, ["path"] = directory, ["recursive"] = true }, "tree", cancellationToken);

    /// <inheritdoc />
    public Task<ArchiveExtractionDto> UploadArchiveAsync(string sessionId, string directory, Stream archive, CancellationToken cancellationToken = default) =>
        McpArchives.UploadAsync(_tools, sessionId, directory, archive, cancellationToken);

    /// <inheritdoc />
    public Task DownloadArchiveAsync(string sessionId, string directory, string format, Stream destination, CancellationToken cancellationToken = default) =>
        McpArchives.DownloadAsync(_tools, sessionId, directory, format, destination, cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> RestartSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("restart_session", new() { ["session_id"] = sessionId }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> ImportGitBundleAsync(string sessionId, ImportGitBundleRequest request, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("import_git_bundle", new()
        {
            ["session_id"] = sessionId, ["path"] = request?.Path, ["ref"] = request?.Ref, ["branch"] = request?.Branch, ["origin"] = request?.Origin,
        }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> UpdateGitBaseAsync(string sessionId, UpdateGitBaseRequest request, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("update_git_base", new() { ["session_id"] = sessionId, ["path"] = request?.Path, ["ref"] = request?.Ref }, "session", cancellationToken);

    /// <inheritdoc />
    public Task<GitReviewDto> ReviewChangesAsync(string sessionId, int maxDiffChars = 200_000, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<GitReviewDto>("review_changes", new() { ["session_id"] = sessionId, ["max_diff_chars"] = maxDiffChars }, "review", cancellationToken);

    /// <inheritdoc />
    public Task<GitRunChangesDto> CommitChangesAsync(string sessionId, string message, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<GitRunChangesDto>("commit_changes", new() { ["session_id"] = sessionId, ["message"] = message }, "changes", cancellationToken);

    /// <inheritdoc />
    public async Task<FileLinkDto> CreateFileLinkAsync(string sessionId, CreateLinkRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return (await _tools.CallAsync("get_file_url", new()
        {
            ["session_id"] = sessionId, ["path"] = request.Path, ["method"] = request.Method ?? "GET", ["expires_seconds"] = request.ExpiresSeconds,
            ["single_use"] = request.SingleUse ?? false,
        }, cancellationToken).ConfigureAwait(false)).Deserialize<FileLinkDto>(SandboxJson.Options)
            ?? throw new SandboxClientException("protocol_error", "get_file_url returned nothing.");
    }

    /// <inheritdoc />
    public async Task<ProcessDto> StartProcessAsync(string sessionId, StartProcessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await _tools.CallAsync<ProcessDto>("start_process", new()
        {
            ["session_id"] = sessionId, ["command"] = request.Command, ["argv"] = request.Argv, ["cwd"] = request.Cwd, ["env"] = request.Env, ["allow"] = request.Allow,
        }, "process", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ProcessDto>> ListProcessesAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<ProcessDto>>("list_processes", new() { ["session_id"] = sessionId }, "processes", cancellationToken);

    /// <inheritdoc />
    public async Task<ProcessOutputDto> GetProcessOutputAsync(string sessionId, string processId, long stdoutCursor = 0, long stderrCursor = 0, double waitSeconds = 0,
        CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("get_process_output", new()
        {
            ["session_id"] = sessionId, ["process_id"] = processId, ["stdout_cursor"] = stdoutCursor, ["stderr_cursor"] = stderrCursor,
            ["wait_seconds"] = waitSeconds, ["max_bytes"] = 1 << 20,
        }, cancellationToken).ConfigureAwait(false)).Deserialize<ProcessOutputDto>(SandboxJson.Options)
        ?? throw new SandboxClientException("protocol_error", "get_process_output returned nothing.");

    /// <inheritdoc />
    public async Task<int> SendInputAsync(string sessionId, string processId, string text, bool close = false, CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("send_input", new() { ["session_id"] = sessionId, ["process_id"] = processId, ["text"] = text, ["close"] = close }, cancellationToken)
            .ConfigureAwait(false)).GetProperty("written").GetInt32();

    /// <inheritdoc />
    public Task<ProcessDto> KillProcessAsync(string sessionId, string processId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<ProcessDto>("kill_process", new() { ["session_id"] = sessionId, ["process_id"] = processId }, "process", cancellationToken);

    /// <inheritdoc />
    public async Task<ExecutionResultDto> GetExecutionAsync(string sessionId, string executionId, int cursor = 0, double? waitSeconds = null, CancellationToken cancellationToken = default) =>
        McpExecutions.ToResult(await _tools.CallRawAsync("get_execution", new()
        {
            ["session_id"] = sessionId, ["execution_id"] = executionId, ["cursor"] = cursor, ["wait_seconds"] = waitSeconds ?? 0, ["max_output_chars"] = int.MaxValue,
        }, null, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public async Task<ExecutionResultDto> CancelExecutionAsync(string sessionId, string executionId, CancellationToken cancellationToken = default) =>
        McpExecutions.ToResult(await _tools.CallRawAsync("cancel_execution", new()
        {
            ["session_id"] = sessionId, ["execution_id"] = executionId, ["max_output_chars"] = int.MaxValue,
        }, null, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public Task<IReadOnlyList<ExecutionSummaryDto>> ListExecutionsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<ExecutionSummaryDto>>("list_executions", new() { ["session_id"] = sessionId }, "executions", cancellationToken);

    /// <inheritdoc />
    public async Task<OutputSliceDto> ReadOutputAsync(string sessionId, string executionId, string stream = "stdout", long offset = 0, int length = 65536, CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("read_output", new()
        {
            ["session_id"] = sessionId, ["execution_id"] = executionId, ["stream"] = stream, ["offset"] = offset, ["length"] = length,
        }, cancellationToken).ConfigureAwait(false)).Deserialize<OutputSliceDto>(SandboxJson.Options) ?? throw new SandboxClientException("protocol_error", "read_output returned nothing.");

    /// <inheritdoc />
    public async Task<OutputMatchesDto> GrepOutputAsync(string sessionId, string executionId, string pattern, string stream = "stdout", int maxMatches = 100, CancellationToken cancellationToken = default) =>
        (await _tools.CallAsync("grep_output", new()
        {
            ["session_id"] = sessionId, ["execution_id"] = executionId, ["pattern"] = pattern, ["stream"] = stream, ["max_matches"] = maxMatches,
        }, cancellationToken).ConfigureAwait(false)).Deserialize<OutputMatchesDto>(SandboxJson.Options) ?? throw new SandboxClientException("protocol_error", "grep_output returned nothing.");

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _tools.Mcp.DisposeAsync();

}
