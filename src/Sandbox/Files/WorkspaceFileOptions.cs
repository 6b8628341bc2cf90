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
}
