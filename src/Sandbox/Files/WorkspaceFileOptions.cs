using System.ComponentModel.DataAnnotations;

namespace Sandbox.Files;

/// <summary>Workspace file transfer settings, bound from <c>Sandbox:Files</c>.</summary>
public sealed class WorkspaceFileOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Files";

    /// <summary>Largest file accepted by upload, in bytes (<c>file_too_large</c> beyond; nothing is written).</summary>
    [Range(1, long.MaxValue)] public long MaxUploadBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Largest file or directory archive returned by download, in bytes.</summary>
    [Range(1, long.MaxValue)] public long MaxDownloadBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Most entries an uploaded archive may have (files, directories, links); more is <c>limit_exceeded</c>
    /// and nothing is written.</summary>
    [Range(1, 10_000_000)] public int MaxArchiveEntries { get; set; } = 10_000;

    /// <summary>Most bytes an uploaded archive may expand to (also never more than the workspace has free); more is
    /// <c>limit_exceeded</c> and nothing is written.</summary>
    [Range(1, long.MaxValue)] public long MaxArchiveBytes { get; set; } = 2L * 1024 * 1024 * 1024;
}
