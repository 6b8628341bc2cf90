using System.ComponentModel.DataAnnotations;

namespace Sandbox.Server.Hosting;

/// <summary>A caller allowed in by bearer token. Sessions belong to the caller's name.</summary>
public sealed class ApiKey
{
    /// <summary>The caller's name (owner of its sessions).</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.@-]{1,64}$")] public string Name { get; set; } = "";

    /// <summary>The secret token (at least 16 characters).</summary>
    [Required, MinLength(16)] public string Token { get; set; } = "";
}

/// <summary>HTTP host settings, bound from the <c>Server</c> section.</summary>
public sealed class ServerOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Server";

    /// <summary>A single bearer token (owner name <c>default</c>). Empty: no token unless <see cref="ApiKeys"/> has some.</summary>
    public string? AuthToken { get; set; }

    /// <summary>Several callers, each with its own token and its own sessions.</summary>
    public List<ApiKey> ApiKeys { get; set; } = [];

    /// <summary>Origins (scheme://host[:port]) allowed besides the server's own loopback origins. <c>*</c> allows any.</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Largest request body in bytes (uploads included).</summary>
    [Range(1024, long.MaxValue)] public long MaxRequestBodyBytes { get; set; } = 110L * 1024 * 1024;

    /// <summary>The address clients reach this server at (e.g. <c>https://sandbox.example.com</c>), for the file links it
    /// hands out. Empty: the address of the request that asked for the link (over stdio: <c>http://127.0.0.1:8080</c>).</summary>
    public string? PublicUrl { get; set; }

    /// <summary>Where previews are served: each one on a host of its own under this URL's host,
    /// <c>{port}-{session}.{host}</c> (e.g. <c>https://preview.example.com</c>, with a wildcard DNS name and certificate
    /// for <c>*.preview.example.com</c> at the reverse proxy). Best a registrable domain apart from the API's (as
    /// <c>example-previews.com</c> beside <c>sandbox.example.com</c>), so previews are not even same-site with it. Empty:
    /// <c>localhost</c> with the scheme and port of the request (browsers resolve <c>*.localhost</c> to loopback).</summary>
    public string? PreviewUrl { get; set; }

    /// <summary>A directory of secret files, one setting per file (<c>Sandbox__Durability__ConnectionString</c>…), e.g.
    /// <c>/run/secrets</c> under Docker Swarm. Empty: none.</summary>
    public string? SecretsDirectory { get; set; }

    /// <summary>Whether any token is configured.</summary>
    public bool AuthEnabled => !string.IsNullOrEmpty(AuthToken) || ApiKeys.Count > 0;

    /// <summary>The domain previews are served under (<see cref="PreviewUrl"/>'s host, else <c>localhost</c>).</summary>
    public string PreviewDomain => string.IsNullOrEmpty(PreviewUrl) ? "localhost" : new Uri(PreviewUrl).IdnHost;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrEmpty(PreviewUrl))
        {
            yield break;
        }
        if (!Uri.TryCreate(PreviewUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || uri.HostNameType != UriHostNameType.Dns || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
        {
            yield return new ValidationResult(
                "PreviewUrl must be an http or https URL with a host name and nothing after it (e.g. https://preview.example.com): previews are served on its subdomains.",
                [nameof(PreviewUrl)]);
        }
    }
}
