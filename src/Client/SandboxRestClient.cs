using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Sandbox.Client.Contracts;
using static Sandbox.Client.RestTransport;

namespace Sandbox.Client;

/// <summary>
/// <see cref="ISandboxClient"/> over the REST API. Give it an <see cref="HttpClient"/> whose BaseAddress is the server
/// (for example from <c>IHttpClientFactory</c>, see <c>AddSandboxClient</c>). No automatic retries: an execution is
/// not idempotent, and re-running code after a timeout would run it twice.
/// </summary>
public sealed partial class SandboxRestClient : ISandboxClient
{
    private readonly HttpClient _http;
    private readonly RestTransport _api;
    private readonly bool _ownsHttp;

    /// <summary>Uses an existing client (its BaseAddress must be the server; set the bearer token on it if needed).</summary>
    public SandboxRestClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.BaseAddress is null)
        {
            throw new ArgumentException("HttpClient.BaseAddress must be the sandbox server's address.", nameof(http));
        }
        _http = http;
        _api = new RestTransport(http);
    }

    /// <summary>Creates a client for <paramref name="baseAddress"/> with an optional bearer token.</summary>
    public SandboxRestClient(Uri baseAddress, string? token = null)
        : this(CreateHttp(baseAddress, token)) => _ownsHttp = true;

    private static HttpClient CreateHttp(Uri baseAddress, string? token)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return http;
    }

    /// <inheritdoc />
    public Task<SessionDto> CreateSessionAsync(CreateSessionRequest? request = null, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>("api/sessions", request ?? new CreateSessionRequest(), cancellationToken);

    /// <inheritdoc />
    public Task<ExecutionResultDto> ExecuteAsync(string sessionId, ExecuteRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<ExecutionResultDto>($"api/sessions/{Escape(sessionId)}/execute", request, cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerable<ExecutionStreamEvent> ExecuteStreamingAsync(string sessionId, ExecuteRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, $"api/sessions/{Escape(sessionId)}/execute")
        {
            Content = JsonContent.Create(request, options: SandboxJson.Options),
        };
        message.Headers.Accept.ParseAdd("application/x-ndjson");
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }
            var e = JsonSerializer.Deserialize<ExecutionStreamEvent>(line, SandboxJson.Options)
                    ?? throw new SandboxClientException("protocol_error", "The server sent an empty stream event.");
            if (e.Type == "error" && e.Error is { } error)
            {
                throw new SandboxClientException(error.Code, error.Message);
            }
            yield return e;
        }
    }

    /// <inheritdoc />
    public async Task<FileEntryDto> UploadFileAsync(string sessionId, string path, Stream content, CancellationToken cancellationToken = default)
    {
        using var body = new StreamContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var r = await _http.PutAsync($"api/sessions/{Escape(sessionId)}/files/{EscapePath(path)}", body, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<FileEntryDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DownloadFileAsync(string sessionId, string path, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var r = await _http.GetAsync($"api/sessions/{Escape(sessionId)}/files/{EscapePath(path)}", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(r, cancellationToken).ConfigureAwait(false);
        await r.Content.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FileEntryDto>> ListFilesAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<FileEntryDto>>($"api/sessions/{Escape(sessionId)}/files?dir={Uri.EscapeDataString(directory ?? "")}", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task DeleteFileAsync(string sessionId, string path, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync($"api/sessions/{Escape(sessionId)}/files/{EscapePath(path)}", cancellationToken);

    /// <inheritdoc />
    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync($"api/sessions/{Escape(sessionId)}", cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<SessionDto>> ListSessionsAsync(CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<SessionDto>>("api/sessions", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async Task<IReadOnlyList<SessionDto>> ListSessionsAsync(IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<SessionDto>>("api/sessions?" + string.Join('&', (metadata ?? new Dictionary<string, string>())
            .Select(m => Uri.EscapeDataString("metadata." + m.Key) + "=" + Uri.EscapeDataString(m.Value))), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task<SessionDto> UpdateSessionAsync(string sessionId, UpdateSessionRequest request, CancellationToken cancellationToken = default) =>
        _api.PatchAsync<SessionDto>($"api/sessions/{Escape(sessionId)}", request, cancellationToken);

    /// <inheritdoc />
    public async Task<ExecutionResultDto> GetExecutionAsync(string sessionId, string executionId, int cursor = 0, double? waitSeconds = null, CancellationToken cancellationToken = default)
    {
        var wait = waitSeconds is { } w ? "&wait_seconds=" + w.ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
        using var r = await _http.GetAsync($"api/sessions/{Escape(sessionId)}/executions/{Escape(executionId)}?cursor={cursor}{wait}", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ExecutionResultDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ExecutionResultDto> CancelExecutionAsync(string sessionId, string executionId, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PostAsync($"api/sessions/{Escape(sessionId)}/executions/{Escape(executionId)}/cancel", null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ExecutionResultDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ExecutionSummaryDto>> ListExecutionsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<ExecutionSummaryDto>>($"api/sessions/{Escape(sessionId)}/executions", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task<OutputSliceDto> ReadOutputAsync(string sessionId, string executionId, string stream = "stdout", long offset = 0, int length = 65536, CancellationToken cancellationToken = default) =>
        _api.GetAsync<OutputSliceDto>($"api/sessions/{Escape(sessionId)}/executions/{Escape(executionId)}/output?stream={Uri.EscapeDataString(stream)}&offset={offset}&length={length}", cancellationToken);

    /// <inheritdoc />
    public Task<OutputMatchesDto> GrepOutputAsync(string sessionId, string executionId, string pattern, string stream = "stdout", int maxMatches = 100, CancellationToken cancellationToken = default) =>
        _api.GetAsync<OutputMatchesDto>($"api/sessions/{Escape(sessionId)}/executions/{Escape(executionId)}/grep?pattern={Uri.EscapeDataString(pattern)}&stream={Uri.EscapeDataString(stream)}&max={maxMatches}", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> ExposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/expose", new { port }, cancellationToken);

    /// <inheritdoc />
    public async Task<PreviewDto> OpenPreviewAsync(string sessionId, int port, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PostAsync($"api/sessions/{Escape(sessionId)}/ports/{port}/grant", null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<PreviewDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<SessionDto> UnexposePortAsync(string sessionId, int port, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/expose/{port}", cancellationToken);

    /// <inheritdoc />
    public Task<SnapshotDto> SnapshotSessionAsync(string sessionId, string? name = null, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SnapshotDto>($"api/sessions/{Escape(sessionId)}/snapshots", new { name }, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<SnapshotDto>> ListSnapshotsAsync(CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<SnapshotDto>>("api/snapshots", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync($"api/snapshots/{Escape(snapshotId)}", cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<SessionDto>> ForkSessionAsync(string sessionId, int count = 1, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PostAsJsonAsync($"api/sessions/{Escape(sessionId)}/fork", new { count }, SandboxJson.Options, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<List<SessionDto>>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<GitExportDto> ExportChangesAsync(string sessionId, ExportChangesRequest? request = null, CancellationToken cancellationToken = default) =>
        _api.PostAsync<GitExportDto>($"api/sessions/{Escape(sessionId)}/git/export", request ?? new ExportChangesRequest(), cancellationToken);

    /// <inheritdoc />
    public Task<GitPushDto> PushChangesAsync(string sessionId, PushChangesRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<GitPushDto>($"api/sessions/{Escape(sessionId)}/git/push", request, cancellationToken);

    /// <inheritdoc />
    public Task<FileTreeDto> ListTreeAsync(string sessionId, string? directory = null, CancellationToken cancellationToken = default) =>
        _api.GetAsync<FileTreeDto>($"api/sessions/{Escape(sessionId)}/files?dir={Uri.EscapeDataString(directory ?? "")}&recursive=true", cancellationToken);

    /// <inheritdoc />
    public async Task<ArchiveExtractionDto> UploadArchiveAsync(string sessionId, string directory, Stream archive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        // The server needs the length first: a stream that cannot tell it is buffered in a temporary file.
        await using var buffered = archive.CanSeek ? null : new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        if (buffered is not null)
        {
            await archive.CopyToAsync(buffered, cancellationToken).ConfigureAwait(false);
            buffered.Position = 0;
        }
        // Not disposed: that would close the caller's stream, which stays theirs.
        var body = new StreamContent(buffered ?? archive);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var url = $"api/sessions/{Escape(sessionId)}/archive" + (string.IsNullOrEmpty(directory) ? "" : "/" + EscapePath(directory));
        using var r = await _http.PutAsync(url, body, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ArchiveExtractionDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DownloadArchiveAsync(string sessionId, string directory, string format, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var kind = format is "tar.gz" or "tgz" ? "tar.gz" : format == "zip" ? "zip" : throw new ArgumentException("format is 'zip' or 'tar.gz'.", nameof(format));
        using var r = await _http.GetAsync($"api/sessions/{Escape(sessionId)}/editable.{kind}?path={Uri.EscapeDataString(directory ?? "")}", HttpCompletionOption.ResponseHeadersRead, cancellationToken)
            .ConfigureAwait(false);
        await EnsureSuccessAsync(r, cancellationToken).ConfigureAwait(false);
        await r.Content.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<SessionDto> RestartSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/restart", null, cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> ImportGitBundleAsync(string sessionId, ImportGitBundleRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/git/import", request, cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> UpdateGitBaseAsync(string sessionId, UpdateGitBaseRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/git/update", request, cancellationToken);

    /// <inheritdoc />
    public Task<GitReviewDto> ReviewChangesAsync(string sessionId, int maxDiffChars = 200_000, CancellationToken cancellationToken = default) =>
        _api.GetAsync<GitReviewDto>(FormattableString.Invariant($"api/sessions/{Escape(sessionId)}/git/review?max_diff_chars={maxDiffChars}"), cancellationToken);

    /// <inheritdoc />
    public Task<GitRunChangesDto> CommitChangesAsync(string sessionId, string message, CancellationToken cancellationToken = default) =>
        _api.PostAsync<GitRunChangesDto>($"api/sessions/{Escape(sessionId)}/git/commit", new CommitChangesRequest { Message = message }, cancellationToken);

    /// <inheritdoc />
    public Task<FileLinkDto> CreateFileLinkAsync(string sessionId, CreateLinkRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<FileLinkDto>($"api/sessions/{Escape(sessionId)}/links", request, cancellationToken);

    /// <inheritdoc />
    public Task<ProcessDto> StartProcessAsync(string sessionId, StartProcessRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<ProcessDto>($"api/sessions/{Escape(sessionId)}/processes", request, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<ProcessDto>> ListProcessesAsync(string sessionId, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<ProcessDto>>($"api/sessions/{Escape(sessionId)}/processes", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async Task<ProcessOutputDto> GetProcessOutputAsync(string sessionId, string processId, long stdoutCursor = 0, long stderrCursor = 0, double waitSeconds = 0,
        CancellationToken cancellationToken = default)
    {
        var query = FormattableString.Invariant($"stdout_cursor={stdoutCursor}&stderr_cursor={stderrCursor}&wait_seconds={waitSeconds}");
        using var r = await _http.GetAsync($"api/sessions/{Escape(sessionId)}/processes/{Escape(processId)}/output?{query}", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ProcessOutputDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<int> SendInputAsync(string sessionId, string processId, string text, bool close = false, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PostAsJsonAsync($"api/sessions/{Escape(sessionId)}/processes/{Escape(processId)}/input", new ProcessInputRequest { Text = text, Close = close },
            SandboxJson.Options, cancellationToken).ConfigureAwait(false);
        return (await ReadAsync<JsonElement>(r, cancellationToken).ConfigureAwait(false)).GetProperty("written").GetInt32();
    }

    /// <inheritdoc />
    public Task<ProcessDto> KillProcessAsync(string sessionId, string processId, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync<ProcessDto>($"api/sessions/{Escape(sessionId)}/processes/{Escape(processId)}", cancellationToken);

    /// <inheritdoc />
    public async Task<SessionDto> UpdateNetworkAsync(string sessionId, IReadOnlyList<string> allow, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PutAsJsonAsync($"api/sessions/{Escape(sessionId)}/network", new NetworkDto { Allow = allow }, SandboxJson.Options, cancellationToken)
            .ConfigureAwait(false);
        return await ReadAsync<SessionDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<SessionDto> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _api.GetAsync<SessionDto>($"api/sessions/{Escape(sessionId)}", cancellationToken);

    /// <inheritdoc />
    public async Task<HealthDto> GetHealthAsync(CancellationToken cancellationToken = default)
    {
        // 503 still carries the health report (degraded): read it rather than throwing.
        using var r = await _http.GetAsync("healthz", cancellationToken).ConfigureAwait(false);
        return await r.Content.ReadFromJsonAsync<HealthDto>(SandboxJson.Options, cancellationToken).ConfigureAwait(false)
               ?? throw new SandboxClientException("protocol_error", "Empty health report.");
    }

    /// <inheritdoc />
    public Task<PackagesDto> GetPackagesAsync(string? image = null, CancellationToken cancellationToken = default) =>
        _api.GetAsync<PackagesDto>($"api/packages?image={Uri.EscapeDataString(image ?? "")}", cancellationToken);

    /// <inheritdoc />
    public async Task<PackageInstallResultDto> InstallPackagesAsync(string sessionId, InstallPackagesRequest request, CancellationToken cancellationToken = default)
    {
        using var r = await _http.PostAsJsonAsync($"api/sessions/{Escape(sessionId)}/packages", request, SandboxJson.Options, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<PackageInstallResultDto>(r, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<AgentRunDto> RunAgentAsync(string sessionId, RunAgentRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<AgentRunDto>($"api/sessions/{Escape(sessionId)}/agent-runs?wait=true&trajectory=false", request, cancellationToken);

    /// <inheritdoc />
    public Task<AgentJobDto> RunAgentJobAsync(RunAgentJobRequest request, bool wait = true, CancellationToken cancellationToken = default) =>
        _api.PostAsync<AgentJobDto>(wait ? "api/jobs?wait=true" : "api/jobs", request, cancellationToken);

    /// <inheritdoc />
    public Task<AgentJobDto> GetAgentJobAsync(string jobId, CancellationToken cancellationToken = default) =>
        _api.GetAsync<AgentJobDto>($"api/jobs/{Escape(jobId)}", cancellationToken);

    /// <inheritdoc />
    public Task<CodeSearchDto> SearchCodeAsync(string sessionId, string pattern, string? path = null, bool fixedText = false, bool ignoreCase = false,
        int maxMatches = 200, CancellationToken cancellationToken = default) =>
        _api.GetAsync<CodeSearchDto>(FormattableString.Invariant($"api/sessions/{Escape(sessionId)}/search?pattern={Uri.EscapeDataString(pattern ?? "")}&path={Uri.EscapeDataString(path ?? "")}&fixed={(fixedText ? "true" : "false")}&ignore_case={(ignoreCase ? "true" : "false")}&max_matches={maxMatches}"), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<AgentSkillDto>> ListSkillsAsync(CancellationToken cancellationToken = default) =>
        _api.GetAsync<IReadOnlyList<AgentSkillDto>>("api/skills", cancellationToken);

    /// <inheritdoc />
    public Task<SessionChangesDto> GetSessionDiffAsync(string sessionId, string? path = null, string? against = null, CancellationToken cancellationToken = default) =>
        _api.GetAsync<SessionChangesDto>((string.IsNullOrEmpty(path) ? $"api/sessions/{Escape(sessionId)}/diff"
            : $"api/sessions/{Escape(sessionId)}/diff/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}")
            + (string.IsNullOrEmpty(against) ? "" : "?against=" + Uri.EscapeDataString(against)), cancellationToken);

    /// <inheritdoc />
    public Task<SessionChangesDto> GetSessionSummaryAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _api.GetAsync<SessionChangesDto>($"api/sessions/{Escape(sessionId)}/summary", cancellationToken);

    /// <inheritdoc />
    public Task<AgentRunDto> ContinueAgentAsync(string sessionId, string runId, string prompt, CancellationToken cancellationToken = default) =>
        _api.PostAsync<AgentRunDto>($"api/sessions/{Escape(sessionId)}/agent-runs/{Escape(runId)}/continue?wait=true&trajectory=false", new RunAgentRequest { Prompt = prompt }, cancellationToken);

    /// <inheritdoc />
    public Task<TerminalDto> OpenTerminalAsync(string sessionId, OpenTerminalRequest request, CancellationToken cancellationToken = default) =>
        _api.PostAsync<TerminalDto>($"api/sessions/{Escape(sessionId)}/terminals", request, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<TerminalDto>> ListTerminalsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<TerminalDto>>($"api/sessions/{Escape(sessionId)}/terminals", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task CloseTerminalAsync(string sessionId, string terminalId, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync($"api/sessions/{Escape(sessionId)}/terminals/{Escape(terminalId)}", cancellationToken);

    /// <inheritdoc />
    public Task<AgentRunDto> GetAgentRunAsync(string sessionId, string runId, bool includeTrajectory = false, CancellationToken cancellationToken = default) =>
        _api.GetAsync<AgentRunDto>($"api/sessions/{Escape(sessionId)}/agent-runs/{Escape(runId)}?trajectory={(includeTrajectory ? "true" : "false")}", cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<AgentRunDto>> ListAgentRunsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<AgentRunDto>>($"api/sessions/{Escape(sessionId)}/agent-runs", cancellationToken).ConfigureAwait(false);

    /// <summary>Attaches to a session's terminal over its WebSocket (REST only: MCP has no terminal stream): the screen as
    /// it is, then live output; with <paramref name="terminalId"/> null a new shell terminal is opened.</summary>
    public Task<SandboxTerminalConnection> AttachTerminalAsync(string sessionId, string? terminalId, bool readOnly = false, int cols = 80, int rows = 24,
        CancellationToken cancellationToken = default) =>
        SandboxTerminalConnection.ConnectAsync(_http.BaseAddress!, _http.DefaultRequestHeaders.Authorization?.Parameter, sessionId, terminalId, readOnly, cols, rows, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
