using System.Net.Http.Json;
using System.Text.Json;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>The REST client's transport: JSON requests in the wire format, answers read as contracts, and every
/// non-success answer turned into a <see cref="SandboxClientException"/> with the server's problem code.</summary>
internal sealed class RestTransport(HttpClient http)
{
    /// <summary>The HTTP client (its BaseAddress is the server).</summary>
    public HttpClient Http { get; } = http;

    public async Task<T> GetAsync<T>(string url, CancellationToken ct)
    {
        using var r = await Http.GetAsync(url, ct).ConfigureAwait(false);
        return await ReadAsync<T>(r, ct).ConfigureAwait(false);
    }

    public async Task<T> PostAsync<T>(string url, object? body, CancellationToken ct)
    {
        using var r = await Http.PostAsJsonAsync(url, body, SandboxJson.Options, ct).ConfigureAwait(false);
        return await ReadAsync<T>(r, ct).ConfigureAwait(false);
    }

    public async Task<T> PatchAsync<T>(string url, object? body, CancellationToken ct)
    {
        using var r = await Http.PatchAsJsonAsync(url, body, SandboxJson.Options, ct).ConfigureAwait(false);
        return await ReadAsync<T>(r, ct).ConfigureAwait(false);
    }

    public async Task<T> PutAsync<T>(string url, object? body, CancellationToken ct)
    {
        using var r = await Http.PutAsJsonAsync(url, body, SandboxJson.Options, ct).ConfigureAwait(false);
        return await ReadAsync<T>(r, ct).ConfigureAwait(false);
    }

    public async Task<T> DeleteAsync<T>(string url, CancellationToken ct)
    {
        using var r = await Http.DeleteAsync(url, ct).ConfigureAwait(false);
        return await ReadAsync<T>(r, ct).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string url, CancellationToken ct)
    {
        using var r = await Http.DeleteAsync(url, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(r, ct).ConfigureAwait(false);
    }

    public static async Task<T> ReadAsync<T>(HttpResponseMessage r, CancellationToken ct)
    {
        await EnsureSuccessAsync(r, ct).ConfigureAwait(false);
        return await r.Content.ReadFromJsonAsync<T>(SandboxJson.Options, ct).ConfigureAwait(false)
               ?? throw new SandboxClientException("protocol_error", "The server sent an empty body.");
    }

    public static async Task EnsureSuccessAsync(HttpResponseMessage r, CancellationToken ct)
    {
        if (r.IsSuccessStatusCode)
        {
            return;
        }
        var body = await r.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string code = "http_" + (int)r.StatusCode, message = $"HTTP {(int)r.StatusCode} {r.ReasonPhrase}";
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("code", out var c) && c.GetString() is { } cs)
            {
                code = cs;
            }
            if (doc.RootElement.TryGetProperty("detail", out var d) && d.GetString() is { } ds)
            {
                message = ds;
            }
        }
        catch (JsonException)
        {
            // Not problem details (a proxy, say): keep the status as the code.
        }
        throw new SandboxClientException(code, message, (int)r.StatusCode);
    }

    /// <summary>An id as one URL segment.</summary>
    public static string Escape(string id) => Uri.EscapeDataString(id ?? throw new ArgumentNullException(nameof(id)));

    /// <summary>A workspace path as URL segments; '..' is refused here with the server's code (HTTP stacks collapse it).</summary>
    public static string EscapePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var segments = path.Split('/');
        if (segments.Any(s => s == ".."))
        {
            throw new SandboxClientException("invalid_path", "Invalid workspace path: '..' segments are not allowed.", 400);
        }
        return string.Join('/', segments.Select(Uri.EscapeDataString));
    }
}
