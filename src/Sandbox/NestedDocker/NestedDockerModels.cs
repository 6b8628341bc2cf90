using System.ComponentModel.DataAnnotations;

namespace Sandbox.NestedDocker;

/// <summary>Options of sessions with their own Docker engine (<c>docker: true</c>): section <c>Sandbox:Docker</c>.</summary>
public sealed class NestedDockerOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <summary>The configuration section.</summary>
    public static string SectionName => "Sandbox:Docker";

    /// <summary>Whether callers may ask for a nested engine at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The image a <c>docker: true</c> session gets when the caller names none (it must hold dockerd, runc and
    /// the docker and docker-compose commands: the agent image does).</summary>
    [Required] public string Image { get; set; } = "agent";

    /// <summary>The nested engine's storage (images, containers, volumes) in MiB by default: memory-backed, bounded,
    /// counted in the session's memory.</summary>
    [Range(256, 65_536)] public int StorageMb { get; set; } = 2048;

    /// <summary>The most storage a caller may ask for, in MiB.</summary>
    [Range(256, 262_144)] public int MaxStorageMb { get; set; } = 8192;

    /// <summary>The least memory a session with a nested engine gets, in MiB (its engine alone holds ~100 MiB); a
    /// request without a memory limit gets at least this, a request for less is refused.</summary>
    [Range(256, 65_536)] public int MinMemoryMb { get; set; } = 1024;

    /// <summary>Images of this server's engine that may be loaded into a session's engine, as patterns
    /// (<c>*</c> matches any run of characters; <c>sandbox-postgres:*</c>). No registry is needed: the image moves from
    /// the host's engine into the session's. Empty: <see cref="DefaultAllowedImages"/> (configuration replaces them
    /// rather than adding to them).</summary>
    public List<string> AllowedImages { get; set; } = [];

    /// <summary>The images allowed when <see cref="AllowedImages"/> names none: the product's own base, Python, Node and
    /// Postgres images.</summary>
    public static readonly IReadOnlyList<string> DefaultAllowedImages = ["sandbox-base:*", "sandbox-python:*", "sandbox-node:*", "sandbox-postgres:*"];

    /// <summary>The patterns in force.</summary>
    internal IReadOnlyList<string> Allowed => AllowedImages.Count > 0 ? AllowedImages : DefaultAllowedImages;

    /// <summary>Images loaded into one session at most.</summary>
    [Range(1, 64)] public int MaxImagesPerSession { get; set; } = 8;

    /// <summary>How long the nested engine may take to answer after the session started.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long loading one image may take.</summary>
    public TimeSpan LoadTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (StartTimeout <= TimeSpan.Zero || LoadTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("StartTimeout and LoadTimeout must be positive.", [nameof(StartTimeout)]);
        }
        if (StorageMb > MaxStorageMb)
        {
            yield return new ValidationResult("StorageMb is above MaxStorageMb.", [nameof(StorageMb)]);
        }
        if (AllowedImages.Any(string.IsNullOrWhiteSpace))
        {
            yield return new ValidationResult("AllowedImages holds an empty pattern.", [nameof(AllowedImages)]);
        }
    }
}

/// <summary>A session's own Docker engine, as session info reports it.</summary>
/// <param name="Host">The <c>DOCKER_HOST</c> its processes see.</param>
/// <param name="StorageMb">Its storage bound in MiB.</param>
/// <param name="Images">The images loaded into it from the server's engine.</param>
/// <param name="StartedMs">Milliseconds from the sandbox's start to the engine's first answer.</param>
public sealed record NestedDockerInfo(string Host, int StorageMb, IReadOnlyList<string> Images, long StartedMs);
