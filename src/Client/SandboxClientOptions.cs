namespace Sandbox.Client;

/// <summary>How the client reaches the server.</summary>
public enum SandboxTransport
{
    /// <summary>The REST API.</summary>
    Rest,
    /// <summary>MCP over Streamable HTTP at <c>/mcp</c>.</summary>
    Mcp,
}

/// <summary>Client settings for <c>AddSandboxClient</c>.</summary>
public sealed class SandboxClientOptions
{
    /// <summary>The server, e.g. <c>http://127.0.0.1:8080/</c>.</summary>
    public Uri BaseAddress { get; set; } = new("http://127.0.0.1:8080/");

    /// <summary>Bearer token, when the server requires one.</summary>
    public string? Token { get; set; }

    /// <summary>REST (default) or MCP.</summary>
    public SandboxTransport Transport { get; set; } = SandboxTransport.Rest;
}

/// <summary>Creates clients with the configured transport.</summary>
public sealed class SandboxClientFactory(IHttpClientFactory httpClients, Microsoft.Extensions.Options.IOptions<SandboxClientOptions> options)
{
    /// <summary>The HttpClient name used for REST clients.</summary>
    public const string HttpClientName = "Sandbox.Client";

    /// <summary>A connected client; dispose it when done.</summary>
    public async Task<ISandboxClient> CreateAsync(CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        if (o.Transport == SandboxTransport.Mcp)
        {
            return await SandboxMcpClient.ConnectHttpAsync(new Uri(o.BaseAddress, "mcp"), o.Token, cancellationToken).ConfigureAwait(false);
        }
        return new SandboxRestClient(httpClients.CreateClient(HttpClientName));
    }
}
