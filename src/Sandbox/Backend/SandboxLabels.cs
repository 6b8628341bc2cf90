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
    /// <summary><see cref="Role"/> of a git helper container.</summary>
    public const string RoleGitHelper = "git-helper";
}
