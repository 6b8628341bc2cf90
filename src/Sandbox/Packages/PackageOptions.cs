using System.ComponentModel.DataAnnotations;

namespace Sandbox.Packages;

/// <summary>Installing packages into sessions (<c>Sandbox:Packages</c>).</summary>
public sealed class PackageOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Packages";

    /// <summary>Packages callers may install, as <c>manager:glob</c> (<c>npm:*</c>, <c>pip:requests</c>, <c>npm:@types/*</c>).
    /// A package must match one of these and none of <see cref="Deny"/>.</summary>
    public List<string> Allow { get; set; } = ["npm:*", "pip:*"];

    /// <summary>Packages refused even when allowed, as <c>manager:glob</c>.</summary>
    public List<string> Deny { get; set; } = [];

    /// <summary>Versions forced per npm package (<c>lodash</c> → <c>4.17.21</c>; configuration key
    /// <c>Sandbox:Packages:NpmPins:lodash</c>): a request without a version gets the pin, another version is refused.</summary>
    public Dictionary<string, string> NpmPins { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Versions forced per pip package, as <see cref="NpmPins"/> (<c>Sandbox:Packages:PipPins:requests</c>).</summary>
    public Dictionary<string, string> PipPins { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Image of the short-lived fetcher container (needs npm and pip). Empty: the <c>agent</c> image.</summary>
    public string? FetcherImage { get; set; }

    /// <summary>The network the fetcher uses to reach the registries. Sessions never join it.</summary>
    [Required] public string FetcherNetwork { get; set; } = "bridge";

    /// <summary>The Python package index. Empty: none (only <see cref="WheelDirectory"/>), for machines without PyPI.</summary>
    public string? PipIndexUrl { get; set; } = "https://pypi.org/simple";

    /// <summary>The npm registry. Empty: npm's default.</summary>
    public string? NpmRegistry { get; set; }

    /// <summary>A directory of wheels (a path the Docker engine can mount) that pip may install from, besides the index.</summary>
    public string? WheelDirectory { get; set; }

    /// <summary>The Docker volume that caches fetched packages for every session.</summary>
    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")] public string CacheVolume { get; set; } = "sandbox-package-cache";

    /// <summary>Size the cache is pruned to (least recently used first) after each fetch, in MiB.</summary>
    [Range(16, 1024 * 1024)] public int MaxCacheMb { get; set; } = 2048;

    /// <summary>Longest a fetch may take.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Most packages per call.</summary>
    [Range(1, 200)] public int MaxPackagesPerCall { get; set; } = 20;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var rule in Allow.Concat(Deny))
        {
            if (!rule.StartsWith("npm:", StringComparison.Ordinal) && !rule.StartsWith("pip:", StringComparison.Ordinal))
            {
                yield return new ValidationResult($"Packages rule '{rule}' must start with npm: or pip:.", [nameof(Allow)]);
            }
        }
        if (FetchTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Packages.FetchTimeout must be positive.", [nameof(FetchTimeout)]);
        }
    }
}
