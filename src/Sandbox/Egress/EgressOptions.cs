using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Sandbox.Egress;

/// <summary>Session network allow lists and the secrets their proxy adds, bound from <c>Sandbox:Egress</c>.</summary>
public sealed class EgressOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Egress";

    /// <summary>The ceiling: host patterns (<c>name</c>, <c>*.suffix</c>, <c>*</c>, each with an optional <c>:port</c> or
    /// <c>:*</c>) a caller may put on a session's allow list. Empty (the default): egress is disabled and every session
    /// has no network at all.</summary>
    public List<string> Allow { get; set; } = [];

    /// <summary>The Docker network that gives each session's egress proxy its way out.</summary>
    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")] public string Network { get; set; } = "bridge";

    /// <summary>Image of the egress proxy (needs python3 and CA certificates). Empty: the default session image.</summary>
    public string? ProxyImage { get; set; }

    /// <summary>Private address ranges (CIDR, e.g. an internal package mirror) an allowed name may resolve to. Public
    /// addresses are always fine; loopback and link-local (cloud metadata) never are, whatever this says.</summary>
    public List<string> PermittedAddresses { get; set; } = [];

    /// <summary>Names the proxy resolves to fixed addresses instead of asking DNS (split-horizon names, pinned mirrors).
    /// The address rules above still apply to them.</summary>
    public Dictionary<string, string> Hosts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A PEM file of extra CA certificates the proxy trusts when it talks TLS itself (hosts that carry a secret),
    /// for upstreams behind a private CA. Empty: the proxy image's system CAs only.</summary>
    public string? UpstreamCaFile { get; set; }

    /// <summary>Connections one session's proxy serves at once.</summary>
    [Range(1, 4096)] public int MaxConnections { get; set; } = 64;

    /// <summary>Connection entries written to one session's history; after that one entry says the rest were not recorded
    /// (the proxy still enforces the list).</summary>
    [Range(0, 1_000_000)] public int MaxHistoryEntries { get; set; } = 1000;

    /// <summary>Secrets by name, each bound to one host: a session that asks for one by name gets the header added by
    /// its proxy on the way out; the value never enters the sandbox.</summary>
    public Dictionary<string, EgressSecretOptions> Secrets { get; set; } = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var pattern in Allow)
        {
            if (!EgressPattern.TryParse(pattern, out _, out var error))
            {
                yield return new ValidationResult($"Allow: '{pattern}': {error}", [nameof(Allow)]);
            }
        }
        foreach (var range in PermittedAddresses)
        {
            if (!IPNetwork.TryParse(range, out _))
            {
                yield return new ValidationResult($"PermittedAddresses: '{range}' is not a CIDR range like 10.0.0.0/8.", [nameof(PermittedAddresses)]);
            }
        }
        foreach (var (name, address) in Hosts)
        {
            if (!EgressPattern.IsHostName(name.ToLowerInvariant()) || !IPAddress.TryParse(address, out _))
            {
                yield return new ValidationResult($"Hosts: '{name}' = '{address}' must map a host name to an IP address.", [nameof(Hosts)]);
            }
        }
        if (!string.IsNullOrEmpty(UpstreamCaFile) && !File.Exists(UpstreamCaFile))
        {
            yield return new ValidationResult($"UpstreamCaFile '{UpstreamCaFile}' does not exist.", [nameof(UpstreamCaFile)]);
        }
        foreach (var (name, secret) in Secrets)
        {
            if (!EgressPattern.IsSecretName(name))
            {
                yield return new ValidationResult($"Secrets: '{name}' is not a name of letters, digits, '-' and '_'.", [nameof(Secrets)]);
            }
            if (string.IsNullOrEmpty(secret.Host) || !EgressPattern.IsHostName(secret.Host.ToLowerInvariant()))
            {
                yield return new ValidationResult($"Secrets:{name}:Host must be a host name (no pattern, no port).", [nameof(Secrets)]);
            }
            if (string.IsNullOrEmpty(secret.Header) || !secret.Header.All(c => c is > ' ' and < (char)127 && c != ':'))
            {
                yield return new ValidationResult($"Secrets:{name}:Header must be an HTTP header name.", [nameof(Secrets)]);
            }
            if (string.IsNullOrEmpty(secret.Value) || secret.Value.Any(c => c is '\r' or '\n' or '\0'))
            {
                yield return new ValidationResult($"Secrets:{name}:Value must be set, on one line.", [nameof(Secrets)]);
            }
        }
    }
}

/// <summary>One operator secret: the proxy sets <see cref="Header"/> to <see cref="Value"/> on requests to <see cref="Host"/>.</summary>
public sealed class EgressSecretOptions
{
    /// <summary>The one host the secret is sent to (its ports on the session's allow list; 80 and 443 by default).</summary>
    public string Host { get; set; } = "";

    /// <summary>The header, e.g. <c>Authorization</c>.</summary>
    public string Header { get; set; } = "Authorization";

    /// <summary>The whole header value, e.g. <c>Bearer …</c>. Set it through the environment
    /// (<c>Sandbox__Egress__Secrets__NAME__Value</c>), never in a file in git.</summary>
    public string Value { get; set; } = "";

    /// <inheritdoc />
    public override string ToString() => $"{Header} for {Host}"; // never the value
}
