using System.ComponentModel.DataAnnotations;
using Sandbox.Sessions;

namespace Sandbox;

/// <summary>
/// The engine's own settings, bound from the <c>Sandbox</c> section: the Docker endpoint, this server's instance id, the
/// images, session limits and lifetimes. Each capability's settings are options of their own in a section below it
/// (<c>Sandbox:Execution</c> is <see cref="Execution.ExecutionOptions"/>, and so on).
/// </summary>
public sealed class SandboxOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <summary>The configuration section name.</summary>
    public static string SectionName => "Sandbox";

    /// <summary>Docker engine endpoint. Empty: <c>DOCKER_HOST</c>, else <c>unix:///var/run/docker.sock</c>.</summary>
    public string? DockerEndpoint { get; set; }

    /// <summary>Names this server's containers (label <c>dev.sandbox.instance</c>) so that orphan removal after a crash
    /// never touches another server's sessions on the same engine.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,64}$")] public string InstanceId { get; set; } = "default";

    /// <summary>Docker API version to speak. 1.41 works with engine 20.10 and newer.</summary>
    [Required] public string DockerApiVersion { get; set; } = "1.41";

    /// <summary>Session images by short name (what callers ask for) to image reference. An image set to an empty reference is not offered.</summary>
    public Dictionary<string, string> Images { get; set; } = new(StringComparer.Ordinal)
    {
        ["python"] = "sandbox-python:latest",
        ["agent"] = "sandbox-agent:latest",
    };

    /// <summary>Image references a caller may name directly besides <see cref="Images"/>' short names, as patterns where
    /// <c>*</c> stands for any characters (<c>python:3.*</c>, <c>node:22*</c>, <c>registry.example.com/team/*</c>). Such
    /// an image needs nothing of this product: it is pulled when the engine lacks it, and the runner runs on its own
    /// Python runtime (<see cref="RuntimeImage"/>); Python executions use the image's python3 where it has one. Empty:
    /// only the short names.</summary>
    public List<string> ImagePatterns { get; set; } = [];

    /// <summary>The image holding the runner's self-contained Python runtime for images named by reference
    /// (deploy/images/runtime).</summary>
    [Required] public string RuntimeImage { get; set; } = "sandbox-runtime:latest";

    /// <summary>How long pulling an image named by reference may take.</summary>
    public TimeSpan ImagePullTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The image name used when a request names none.</summary>
    [Required] public string DefaultImage { get; set; } = "python";

    /// <summary>Limits a session gets when it asks for none.</summary>
    [Required] public SandboxLimits DefaultLimits { get; set; } = new();

    /// <summary>The highest limits a request may ask for. Memory and cores are lowered further to what the engine's
    /// machine has while <see cref="CeilingFromHost"/> is on.</summary>
    [Required] public SandboxLimits MaxLimits { get; set; } = new()
    {
        MemoryMb = 65536, Cpus = 64, Pids = 512, NoFile = 8192, FileSizeMb = 1024, WorkspaceMb = 2048, TmpMb = 512,
    };

    /// <summary>Whether the ceiling on memory and cores follows the engine's machine (its cores; its memory less
    /// <see cref="HostReserveMemoryMb"/>) under <see cref="MaxLimits"/>.</summary>
    public bool CeilingFromHost { get; set; } = true;

    /// <summary>Memory in MiB no single session may take from the engine's machine (kept for the host and the engine).</summary>
    [Range(0, 1048576)] public int HostReserveMemoryMb { get; set; } = 1024;

    /// <summary>A session unused this long is closed by the reaper.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The longest idle timeout a request may ask for.</summary>
    public TimeSpan MaxIdleTimeout { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A session is closed this long after creation, used or not.</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often the reaper looks for expired sessions.</summary>
    public TimeSpan ReaperInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Most sessions alive at once (all callers together).</summary>
    [Range(1, 10000)] public int MaxSessions { get; set; } = 50;

    /// <summary>Time allowed to create and start a session's container and reach its runner.</summary>
    public TimeSpan CreateTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>After a timeout or cancellation, how long the runner has to stop the code before the container is restarted.</summary>
    public TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Images.ContainsKey(DefaultImage))
        {
            yield return new ValidationResult($"DefaultImage '{DefaultImage}' is not a key of Images.", [nameof(DefaultImage)]);
        }
        if (ImagePatterns.FirstOrDefault(p => string.IsNullOrWhiteSpace(p) || p.Trim() == "*" || p.Any(char.IsWhiteSpace)) is { } bad)
        {
            yield return new ValidationResult($"ImagePatterns entry '{bad}' is empty, '*' (any image at all) or has spaces.", [nameof(ImagePatterns)]);
        }
        if (!Version.TryParse(DockerApiVersion, out _))
        {
            yield return new ValidationResult($"DockerApiVersion '{DockerApiVersion}' is not a version like 1.41.", [nameof(DockerApiVersion)]);
        }
        foreach (var ((name, value), (_, max)) in DefaultLimits.Items().Zip(MaxLimits.Items()))
        {
            if (value > max)
            {
                yield return new ValidationResult($"DefaultLimits.{name}={value} is above MaxLimits ({max}).", [nameof(DefaultLimits)]);
            }
        }
        foreach (var (name, span) in new[]
                 {
                     (nameof(IdleTimeout), IdleTimeout), (nameof(MaxLifetime), MaxLifetime), (nameof(ReaperInterval), ReaperInterval),
                     (nameof(CreateTimeout), CreateTimeout), (nameof(KillGrace), KillGrace), (nameof(MaxIdleTimeout), MaxIdleTimeout),
                     (nameof(ImagePullTimeout), ImagePullTimeout),
                 })
        {
            if (span <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"{name} must be positive.", [name]);
            }
        }
    }
}
