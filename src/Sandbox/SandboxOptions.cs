using System.ComponentModel.DataAnnotations;
using Sandbox.Safety;
using Sandbox.Sessions;

namespace Sandbox;

/// <summary>Session store implementations.</summary>
public enum StoreKind
{
    /// <summary>Embedded SQLite file (sessions and history survive restarts).</summary>
    Sqlite,
    /// <summary>In memory only.</summary>
    Memory,
}

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

    /// <summary>Session images by short name (what callers ask for) to image reference.</summary>
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

    /// <summary>Started, paused containers kept ready for sessions of the default image with the default limits
    /// (0 disables). A pooled container serves one session and is destroyed with it.</summary>
    [Range(0, 100)] public int WarmPoolSize { get; set; } = 2;

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

    /// <summary>Most executions running at once (all sessions together).</summary>
    [Range(1, 10000)] public int MaxConcurrentExecutions { get; set; } = 32;

    /// <summary>Timeout of an execution that names none.</summary>
    public TimeSpan DefaultExecutionTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest timeout an execution may ask for.</summary>
    public TimeSpan MaxExecutionTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Characters of stdout and of stderr kept per execution; the rest is dropped and marked truncated.</summary>
    [Range(1024, 256 * 1024 * 1024)] public int MaxOutputChars { get; set; } = 1024 * 1024;

    /// <summary>Largest code accepted by execute, in characters.</summary>
    [Range(1024, 16 * 1024 * 1024)] public int MaxCodeChars { get; set; } = 1024 * 1024;

    /// <summary>Largest file accepted by upload, in bytes.</summary>
    [Range(1, long.MaxValue)] public long MaxUploadBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Largest file or directory archive returned by download, in bytes.</summary>
    [Range(1, long.MaxValue)] public long MaxDownloadBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Time allowed to create and start a session's container and reach its runner.</summary>
    public TimeSpan CreateTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>After a timeout or cancellation, how long the runner has to stop the code before the container is restarted.</summary>
    public TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>OCI runtime for session containers (for example <c>runsc</c> for gVisor). Empty: the engine default.</summary>
    public string? Runtime { get; set; }

    /// <summary>Where sessions and their history are kept: <c>Sqlite</c> (default) or <c>Memory</c> (nothing survives a restart).</summary>
    public StoreKind Store { get; set; } = StoreKind.Sqlite;

    /// <summary>Directory of the SQLite store. Empty: <c>$XDG_DATA_HOME/sandbox</c> or <c>~/.local/share/sandbox</c>.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>At shutdown, keep session containers running so a restarted server resumes them (default), or remove them.</summary>
    public bool KeepSessionsOnShutdown { get; set; } = true;

    /// <summary>The data directory in force.</summary>
    public string ResolveDataDirectory() => !string.IsNullOrWhiteSpace(DataDirectory) ? DataDirectory
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "sandbox");

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
                     (nameof(DefaultExecutionTimeout), DefaultExecutionTimeout), (nameof(MaxExecutionTimeout), MaxExecutionTimeout),
                     (nameof(CreateTimeout), CreateTimeout), (nameof(KillGrace), KillGrace), (nameof(MaxIdleTimeout), MaxIdleTimeout),
                 })
        {
            if (span <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"{name} must be positive.", [name]);
            }
        }
        if (DefaultExecutionTimeout > MaxExecutionTimeout)
        {
            yield return new ValidationResult("DefaultExecutionTimeout is above MaxExecutionTimeout.", [nameof(DefaultExecutionTimeout)]);
        }
    }
}
