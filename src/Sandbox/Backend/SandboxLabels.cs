using System.Globalization;

namespace Sandbox.Backend;

/// <summary>Labels on every container and volume the engine creates, so they can be found, reconciled and reaped.</summary>
public static class SandboxLabels
{
    /// <summary>Marks a resource as ours; value <see cref="ProductValue"/>.</summary>
    public const string Product = "dev.sandbox.product";
    /// <summary>The value of <see cref="Product"/>.</summary>
    public const string ProductValue = "sandbox";
    /// <summary>The server instance (<see cref="SandboxOptions.InstanceId"/>) that owns the resource.</summary>
    public const string Instance = "dev.sandbox.instance";
    /// <summary>The session id.</summary>
    public const string SessionId = "dev.sandbox.session-id";
    /// <summary>Creation time, ISO 8601 UTC.</summary>
    public const string CreatedAt = "dev.sandbox.created-at";
    /// <summary>The caller that owns the session.</summary>
    public const string Owner = "dev.sandbox.owner";
    /// <summary>The image short name the session was created from.</summary>
    public const string Image = "dev.sandbox.image";
    /// <summary>What a resource is for, on resources other than session containers and volumes.</summary>
    public const string Role = "dev.sandbox.role";
    /// <summary>The session's isolation tier (<c>gvisor</c> or <c>container</c>).</summary>
    public const string Isolation = "dev.sandbox.isolation";
    /// <summary><see cref="Role"/> of an agent run's model proxy container.</summary>
    public const string RoleModelProxy = "model-proxy";
    /// <summary><see cref="Role"/> of an agent run's internal network.</summary>
    public const string RoleAgentNetwork = "agent-network";
    /// <summary><see cref="Role"/> of a session's egress proxy container.</summary>
    public const string RoleEgressProxy = "egress-proxy";
    /// <summary><see cref="Role"/> of a session's egress network.</summary>
    public const string RoleEgressNetwork = "egress-network";
    /// <summary><see cref="Role"/> of a package fetcher container.</summary>
    public const string RolePackageFetcher = "package-fetcher";
    /// <summary><see cref="Role"/> of the shared package cache volume.</summary>
    public const string RolePackageCache = "package-cache";
    /// <summary>The runner's Python runtime for images named by reference (a shared volume, and the helper that fills it).</summary>
    public const string RoleRuntime = "runtime";
    /// <summary><see cref="Role"/> of a git helper container.</summary>
    public const string RoleGitHelper = "git-helper";

    /// <summary>The one place labels are made: ours, the owning server instance, the session (or helper) id it belongs
    /// to, when it was made and, on anything but a session's own container and volume, its role. Extra labels (a
    /// session's owner, image, tier, and its creation time by the engine's clock) go on top.</summary>
    /// <param name="instanceId">This server's instance id.</param>
    /// <param name="sessionId">The session (or helper) id; the orphan sweep matches it against live sessions.</param>
    /// <param name="role">What the resource is for; null for a session's own container and volume.</param>
    /// <param name="createdAt">When it was made.</param>
    /// <param name="extra">Labels added on top, or null.</param>
    public static Dictionary<string, string> Of(string instanceId, string sessionId, string? role, DateTimeOffset createdAt,
        IReadOnlyDictionary<string, string>? extra = null)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Product] = ProductValue,
            [Instance] = instanceId,
            [SessionId] = sessionId,
            [CreatedAt] = createdAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (role is not null)
        {
            labels[Role] = role;
        }
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            labels[key] = value;
        }
        return labels;
    }

    /// <summary>Labels of a resource shared by all sessions (the package cache): ours and its role only.</summary>
    public static Dictionary<string, string> Shared(string role) => new(StringComparer.Ordinal) { [Product] = ProductValue, [Role] = role };

    /// <summary>A <c>key=value</c> selector for what we made (with <paramref name="role"/>: of that role).</summary>
    public static IReadOnlyList<string> Selectors(string? role = null) =>
        role is null ? [$"{Product}={ProductValue}"] : [$"{Product}={ProductValue}", $"{Role}={role}"];
}
