using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Sandbox.Packages;

/// <summary>A package a caller asked for, after the policy: its name and the exact version to fetch (null: latest).</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Exact version, or null.</param>
public sealed record WantedPackage(string Name, string? Version);

/// <summary>The server's package policy: spec syntax (exact versions only), allow and deny lists, version pins.</summary>
public sealed partial class PackagePolicy(IOptions<PackageOptions> options)
{
    private readonly PackageOptions _options = options.Value;

    /// <summary>Parses the specs and checks them against the policy; throws naming every refused package.</summary>
    public IReadOnlyList<WantedPackage> Resolve(PackageInstallRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var manager = request.Manager;
        if (manager is not ("pip" or "npm"))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Unknown package manager '{SafeText.Shorten(manager)}'. Use 'pip' or 'npm'.");
        }
        if (request.Packages is not { Count: > 0 } specs)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "packages is required: a list such as [\"requests==2.32.3\"] or [\"lodash@4.17.21\"].");
        }
        if (specs.Count > _options.MaxPackagesPerCall)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"At most {_options.MaxPackagesPerCall} packages per call.");
        }
        var wanted = new List<WantedPackage>();
        var refused = new List<string>();
        foreach (var spec in specs)
        {
            var match = (manager == "npm" ? NpmSpec() : PipSpec()).Match(spec ?? "");
            if (!match.Success)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, manager == "npm"
                    ? $"'{SafeText.Shorten(spec)}' is not an npm package spec: use name or name@1.2.3 (exact versions only)."
                    : $"'{SafeText.Shorten(spec)}' is not a pip package spec: use name or name==1.2.3 (exact versions only).");
            }
            var name = match.Groups["name"].Value;
            var version = match.Groups["version"].Success ? match.Groups["version"].Value : null;
            var key = manager + ":" + name;
            if (_options.Deny.Any(p => Glob(p, key)) || !_options.Allow.Any(p => Glob(p, key)))
            {
                refused.Add($"{name} (not allowed on this server)");
                continue;
            }
            if ((manager == "npm" ? _options.NpmPins : _options.PipPins).TryGetValue(name, out var pin))
            {
                if (version is not null && version != pin)
                {
                    refused.Add($"{name} {version} (this server pins {name} to {pin})");
                    continue;
                }
                version = pin;
            }
            wanted.Add(new WantedPackage(name, version));
        }
        if (refused.Count > 0)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"Refused by the server's package policy: {string.Join(", ", refused)}. Nothing was installed.");
        }
        return wanted;
    }

    private static bool Glob(string pattern, string text) =>
        Regex.IsMatch(text, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    [GeneratedRegex(@"^(?<name>(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213})(@(?<version>[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*))?$")]
    private static partial Regex NpmSpec();

    [GeneratedRegex(@"^(?<name>[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)(==(?<version>[0-9][0-9A-Za-z.+!-]{0,63}))?$")]
    private static partial Regex PipSpec();
}
