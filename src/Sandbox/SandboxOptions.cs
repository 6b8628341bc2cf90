using System.ComponentModel.DataAnnotations;
using Sandbox.Safety;
using Sandbox.Sessions;

namespace Sandbox;

/// <summary>Server-wide engine configuration, bound from the <c>Sandbox</c> configuration section.</summary>
public sealed class SandboxOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Sandbox";

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

    /// <summary>The image name used when a request names none.</summary>
    [Required] public string DefaultImage { get; set; } = "python";

    /// <summary>Limits a session gets when it asks for none.</summary>
    [Required] public SandboxLimits DefaultLimits { get; set; } = new();

    /// <summary>The highest limits a request may ask for.</summary>
    [Required] public SandboxLimits MaxLimits { get; set; } = new()
    {
        MemoryMb = 4096, Cpus = 2, Pids = 512, NoFile = 8192, FileSizeMb = 1024, WorkspaceMb = 2048, TmpMb = 512,
    };

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

    /// <summary>Isolation tiers: gVisor or the container alone, the default, and whether it is required.</summary>
    [Required] public Isolation.IsolationOptions Isolation { get; set; } = new();

    /// <summary>Session networks: the ceiling of allow lists, the proxy's network and address rules, operator secrets.</summary>
    [Required] public Egress.EgressOptions Egress { get; set; } = new();

    /// <summary>Code execution: timeouts, output and code caps, concurrency.</summary>
    [Required] public Execution.ExecutionOptions Execution { get; set; } = new();

    /// <summary>Workspace snapshots and forks: where, how big, how many.</summary>
    [Required] public Snapshots.SnapshotOptions Snapshots { get; set; } = new();

    /// <summary>Signed file links: key, expiry, sizes.</summary>
    [Required] public Links.LinkOptions Links { get; set; } = new();

    /// <summary>Sessions from repositories, agents' branches, exports and pushes.</summary>
    [Required] public Git.GitOptions Git { get; set; } = new();

    /// <summary>Setup commands per image.</summary>
    [Required] public Setup.SetupOptions Setup { get; set; } = new();

    /// <summary>Host directories sessions may mount read-only by name.</summary>
    [Required] public Setup.ContextOptions Context { get; set; } = new();

    /// <summary>Several servers sharing one store: heartbeats, placement of new sessions, forwarding.</summary>
    [Required] public Cluster.ClusterOptions Cluster { get; set; } = new();

    /// <summary>Background processes: how many a session may run.</summary>
    [Required] public Processes.ProcessOptions Processes { get; set; } = new();

    /// <summary>Workspace file transfers: size caps.</summary>
    [Required] public Files.WorkspaceFileOptions Files { get; set; } = new();

    /// <summary>The warm pool.</summary>
    [Required] public Pool.PoolOptions Pool { get; set; } = new();

    /// <summary>The session store and what survives a restart.</summary>
    [Required] public Durability.DurabilityOptions Durability { get; set; } = new();

    /// <summary>Coding agents (<c>run_agent</c>): model endpoint, key, network and limits.</summary>
    [Required] public Agents.AgentOptions Agents { get; set; } = new();

    /// <summary>Installing packages into sessions: policy, fetcher, cache.</summary>
    [Required] public Packages.PackageOptions Packages { get; set; } = new();

    /// <summary>Static safety check settings.</summary>
    [Required] public SafetyOptions Safety { get; set; } = new();

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Images.ContainsKey(DefaultImage))
        {
            yield return new ValidationResult($"DefaultImage '{DefaultImage}' is not a key of Images.", [nameof(DefaultImage)]);
        }
        if (Cluster.Enabled && Durability.Store == Sandbox.Durability.StoreKind.Memory)
        {
            yield return new ValidationResult("Cluster:Enabled needs a store the nodes share (Durability:Store=Postgres, or Sqlite for servers on one machine), not Memory.",
                [nameof(Cluster)]);
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
                 })
        {
            if (span <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"{name} must be positive.", [name]);
            }
        }
    }
}
