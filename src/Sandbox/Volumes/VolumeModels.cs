using System.ComponentModel.DataAnnotations;

namespace Sandbox.Volumes;

/// <summary>Named volumes (<c>Sandbox:Volumes</c>).</summary>
public sealed class VolumeOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Volumes";

    /// <summary>Where volumes are kept. Empty: <c>volumes</c> in the data directory.</summary>
    public string? Directory { get; set; }

    /// <summary>The largest volume a caller may create, in MiB (while mounted it is memory-backed, like a workspace).</summary>
    [Range(1, 1_048_576)] public int MaxSizeMb { get; set; } = 4096;

    /// <summary>Volumes one caller may keep.</summary>
    [Range(1, 10_000)] public int MaxPerOwner { get; set; } = 20;

    /// <summary>Volumes one session may mount.</summary>
    [Range(1, 32)] public int MaxPerSession { get; set; } = 4;
}

/// <summary>A session mounting a volume.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="ReadOnly">Whether it mounts it read-only.</param>
/// <param name="Path">Where.</param>
public sealed record VolumeMount(string SessionId, bool ReadOnly, string Path);

/// <summary>A named volume.</summary>
/// <param name="Name">Its name (unique per caller).</param>
/// <param name="SizeMb">Its size limit in MiB.</param>
/// <param name="UsedBytes">Bytes of its files as last saved.</param>
/// <param name="Files">Files and directories in it as last saved.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When its content was last saved.</param>
/// <param name="Mounts">The live sessions that mount it.</param>
public sealed record VolumeInfo(string Name, int SizeMb, long UsedBytes, int Files, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<VolumeMount> Mounts);

/// <summary>A volume a new session mounts.</summary>
public sealed record VolumeMountRequest
{
    /// <summary>The volume's name.</summary>
    public required string Name { get; init; }

    /// <summary>Where it appears in the session: an absolute path under <c>/data</c>, <c>/mnt</c> or <c>/volumes</c>.</summary>
    public required string Path { get; init; }

    /// <summary>Read-only (several sessions at once) or read-write (one session at a time; its files are saved back to
    /// the volume when the session closes).</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>A file or directory in a volume.</summary>
/// <param name="Path">Relative to the volume's root.</param>
/// <param name="Kind"><c>file</c>, <c>directory</c> or <c>symlink</c>.</param>
/// <param name="Size">Bytes (files).</param>
public sealed record VolumeEntry(string Path, string Kind, long Size);

/// <summary>One volume mount of a sandbox, as the backend makes it.</summary>
/// <param name="DockerVolume">The engine's volume (per session, memory-backed, bounded).</param>
/// <param name="Target">The mount point.</param>
/// <param name="ReadOnly">Owned by root (the sandbox user reads) instead of by the sandbox user.</param>
/// <param name="SizeMb">Its size bound.</param>
public sealed record SandboxVolume(string DockerVolume, string Target, bool ReadOnly, int SizeMb);
