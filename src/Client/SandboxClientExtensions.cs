using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>Conveniences over <see cref="ISandboxClient"/> that both transports share.</summary>
public static class SandboxClientExtensions
{
    /// <summary>Creates a session that is closed when disposed: <c>await using var s = await client.StartSessionAsync();</c></summary>
    public static async Task<SandboxSession> StartSessionAsync(this ISandboxClient client, CreateSessionRequest? request = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return new SandboxSession(client, await client.CreateSessionAsync(request, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Runs Python code.</summary>
    public static Task<ExecutionResultDto> ExecuteAsync(this ISandboxClient client, string sessionId, string code, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.ExecuteAsync(sessionId, new ExecuteRequest { Code = code }, cancellationToken);
    }

    /// <summary>Uploads bytes.</summary>
    public static async Task<FileEntryDto> UploadFileAsync(this ISandboxClient client, string sessionId, string path, byte[] content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var stream = new MemoryStream(content, writable: false);
        return await client.UploadFileAsync(sessionId, path, stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Uploads a local file.</summary>
    public static async Task<FileEntryDto> UploadLocalFileAsync(this ISandboxClient client, string sessionId, string path, string localPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        await using var stream = File.OpenRead(localPath);
        return await client.UploadFileAsync(sessionId, path, stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Downloads a file as bytes.</summary>
    public static async Task<byte[]> DownloadFileAsync(this ISandboxClient client, string sessionId, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var buffer = new MemoryStream();
        await client.DownloadFileAsync(sessionId, path, buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>Downloads a file to a local path (written only when the download succeeds).</summary>
    public static async Task DownloadToLocalFileAsync(this ISandboxClient client, string sessionId, string path, string localPath, CancellationToken cancellationToken = default)
    {
        var bytes = await client.DownloadFileAsync(sessionId, path, cancellationToken).ConfigureAwait(false);
        await File.WriteAllBytesAsync(localPath, bytes, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A session that closes itself when disposed.</summary>
public sealed class SandboxSession : IAsyncDisposable
{
    private readonly ISandboxClient _client;
    private bool _closed;

    internal SandboxSession(ISandboxClient client, SessionDto info)
    {
        _client = client;
        Info = info;
    }

    /// <summary>The session as created.</summary>
    public SessionDto Info { get; }

    /// <summary>The session id.</summary>
    public string Id => Info.Id;

    /// <summary>Runs Python code.</summary>
    public Task<ExecutionResultDto> ExecuteAsync(string code, CancellationToken cancellationToken = default) => _client.ExecuteAsync(Id, code, cancellationToken);

    /// <summary>Runs code with every option.</summary>
    public Task<ExecutionResultDto> ExecuteAsync(ExecuteRequest request, CancellationToken cancellationToken = default) => _client.ExecuteAsync(Id, request, cancellationToken);

    /// <summary>Runs code, streaming output.</summary>
    public IAsyncEnumerable<ExecutionStreamEvent> ExecuteStreamingAsync(ExecuteRequest request, CancellationToken cancellationToken = default) =>
        _client.ExecuteStreamingAsync(Id, request, cancellationToken);

    /// <summary>Uploads bytes.</summary>
    public Task<FileEntryDto> UploadFileAsync(string path, byte[] content, CancellationToken cancellationToken = default) => _client.UploadFileAsync(Id, path, content, cancellationToken);

    /// <summary>Downloads bytes.</summary>
    public Task<byte[]> DownloadFileAsync(string path, CancellationToken cancellationToken = default) => _client.DownloadFileAsync(Id, path, cancellationToken);

    /// <summary>Lists a directory.</summary>
    public Task<IReadOnlyList<FileEntryDto>> ListFilesAsync(string? directory = null, CancellationToken cancellationToken = default) => _client.ListFilesAsync(Id, directory, cancellationToken);

    /// <summary>Runs a coding agent (Claude Code unless the request says otherwise) in this session's workspace.</summary>
    public Task<AgentRunDto> RunAgentAsync(RunAgentRequest request, CancellationToken cancellationToken = default) => _client.RunAgentAsync(Id, request, cancellationToken);

    /// <summary>Runs Claude Code with a prompt in this session's workspace.</summary>
    public Task<AgentRunDto> RunAgentAsync(string prompt, CancellationToken cancellationToken = default) =>
        _client.RunAgentAsync(Id, new RunAgentRequest { Prompt = prompt }, cancellationToken);

    /// <summary>Continues an agent run's conversation (<c>latest</c>: the newest run) with the next message.</summary>
    public Task<AgentRunDto> ContinueAgentAsync(string prompt, string runId = "latest", CancellationToken cancellationToken = default) =>
        _client.ContinueAgentAsync(Id, runId, prompt, cancellationToken);

    /// <summary>Closes the session now.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            return;
        }
        _closed = true;
        try
        {
            await _client.CloseSessionAsync(Id).ConfigureAwait(false);
        }
        catch (SandboxClientException e) when (e.Code == "session_not_found")
        {
            // Already closed or expired: nothing left to clean up.
        }
    }
}
