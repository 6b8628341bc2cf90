using System.ComponentModel.DataAnnotations;

namespace Sandbox.Isolation;

/// <summary>The wall between a session's code and the host.</summary>
public enum IsolationTier
{
    /// <summary>gVisor (<c>runsc</c>): a user-space kernel of its own between the code and the host kernel, inside the
    /// hardened container. The default when the engine has the runtime.</summary>
    Gvisor,
    /// <summary>The hardened container alone (<c>runc</c>): the code talks to the host kernel, filtered by seccomp,
    /// no capabilities, read-only root and the limits.</summary>
    Container,
}

/// <summary>Isolation tiers, bound from <c>Sandbox:Isolation</c>.</summary>
public sealed class IsolationOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Isolation";

    /// <summary>The tier of a session that asks for none (unless its image has its own default).</summary>
    public IsolationTier Default { get; set; } = IsolationTier.Gvisor;

    /// <summary>Per image: the tier its sessions get when they ask for none (e.g. <c>Images:agent = Container</c>).</summary>
    public Dictionary<string, IsolationTier> Images { get; set; } = new(StringComparer.Ordinal);

    /// <summary>When the default tier's runtime is missing, refuse sessions (<c>isolation_unavailable</c>) instead of
    /// falling back to the container tier. A session that names a tier never falls back.</summary>
    public bool Required { get; set; }

    /// <summary>The engine's name for the gVisor runtime (<c>deploy/ensure-engine.sh</c> registers <c>runsc</c>).</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,64}$")] public string GvisorRuntime { get; set; } = "runsc";

    /// <summary>The runtime of the container tier. Empty: the engine's default (runc).</summary>
    public string? ContainerRuntime { get; set; }
}
