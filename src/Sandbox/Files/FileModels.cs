namespace Sandbox.Files;

/// <summary>One entry of a workspace directory listing.</summary>
/// <param name="Name">File name.</param>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Kind"><c>file</c>, <c>directory</c> or <c>symlink</c>.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="ModifiedAt">Last modification (UTC).</param>
public sealed record FileEntry(string Name, string Path, string Kind, long Size, DateTimeOffset ModifiedAt);

/// <summary>A downloaded file, or a directory as a tar archive.</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="IsDirectory">True when <paramref name="Content"/> is a tar archive of a directory.</param>
/// <param name="Content">The bytes.</param>
public sealed record DownloadedFile(string Path, bool IsDirectory, byte[] Content);
