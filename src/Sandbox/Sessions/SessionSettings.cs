using System.Text.RegularExpressions;

namespace Sandbox.Sessions;

/// <summary>Checks of a session's metadata and environment, as given on create or on an update; every refusal says
/// what is allowed.</summary>
internal static partial class SessionSettings
{
    internal const int MaxMetadataKeys = 32;
    internal const int MaxMetadataValueChars = 512;
    internal const int MaxEnvVariables = 64;
    internal const int MaxEnvValueChars = 32 * 1024;

    /// <summary>Names the sandbox sets itself: its home, paths, proxies and CA bundles, and the agents' endpoints.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "HOME", "PATH", "USER", "PWD", "SHELL", "PYTHONPATH", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "DOCKER_HOST",
    };

    internal static IReadOnlyDictionary<string, string> Metadata(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null)
        {
            return new Dictionary<string, string>();
        }
        if (metadata.Count > MaxMetadataKeys)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"metadata may hold at most {MaxMetadataKeys} keys.");
        }
        foreach (var (key, value) in metadata)
        {
            if (key is null || !MetadataKey().IsMatch(key))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"metadata key '{SafeText.Shorten(key, 64)}': use letters, digits, '.', '_' and '-' (at most 64).");
            }
            if (value is null || value.Length > MaxMetadataValueChars || value.Any(char.IsControl))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"metadata '{key}': a value is a string of at most {MaxMetadataValueChars} characters without control characters.");
            }
        }
        return new SortedDictionary<string, string>(metadata.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    internal static IReadOnlyDictionary<string, string> Env(IReadOnlyDictionary<string, string>? env)
    {
        if (env is null)
        {
            return new Dictionary<string, string>();
        }
        if (env.Count > MaxEnvVariables)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"env may hold at most {MaxEnvVariables} variables.");
        }
        foreach (var (name, value) in env)
        {
            if (name is null || !EnvName().IsMatch(name) || Reserved.Contains(name) || name.StartsWith("SANDBOX_", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("ANTHROPIC_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("OPENAI_", StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"env name '{SafeText.Shorten(name, 64)}' is not allowed: use letters, digits and _, and none of the sandbox's own (HOME, PATH, PYTHONPATH, the proxy and CA variables, SANDBOX_*, ANTHROPIC_*, OPENAI_*).");
            }
            if (value is null || value.Length > MaxEnvValueChars || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"env value of '{name}' must be a string of at most {MaxEnvValueChars} characters without NUL.");
            }
        }
        return new SortedDictionary<string, string>(env.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    /// <summary>Whether a session's metadata has every key of <paramref name="filter"/> with the same value.</summary>
    internal static bool Matches(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, string>? filter) =>
        filter is null || filter.All(f => metadata.TryGetValue(f.Key, out var v) && v == f.Value);

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex MetadataKey();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvName();
}
