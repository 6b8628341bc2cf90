using Sandbox.Backend;

namespace Sandbox.Files;

/// <summary>Resolves a workspace path in a sandbox one component at a time with the backend's stat. A symbolic link is
/// followed only when its target stays inside the workspace; otherwise the path is refused.</summary>
internal static class WorkspaceResolver
{
    private const int MaxLinkHops = 8;

    /// <summary>The link-free path and the stat of its end (null when it does not exist yet).</summary>
    public static async Task<(string Relative, SandboxPathStat? Stat)> ResolveAsync(ISandboxBackend backend, string containerId, string relative, CancellationToken ct)
    {
        var hops = 0;
        var segments = relative.Length == 0 ? [] : relative.Split('/').ToList();
        var i = 0;
        var stat = relative.Length == 0
            ? await backend.StatAsync(containerId, WorkspacePath.Root, ct).ConfigureAwait(false)
            : null;
        while (i < segments.Count)
        {
            var prefix = string.Join('/', segments.Take(i + 1));
            stat = await backend.StatAsync(containerId, WorkspacePath.ToContainerPath(prefix), ct).ConfigureAwait(false);
            if (stat is null)
            {
                return (relative, null);
            }
            if (i < segments.Count - 1 && !stat.IsDirectory && !stat.IsSymbolicLink)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidPath,
                    $"'{SafeText.Shorten(string.Join('/', segments.Take(i + 1)))}' is a file, not a directory, so '{SafeText.Shorten(relative)}' cannot be inside it.");
            }
            if (stat.IsSymbolicLink)
            {
                if (++hops > MaxLinkHops)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidPath, "Too many symbolic links in the path.");
                }
                var parent = WorkspacePath.ToContainerPath(string.Join('/', segments.Take(i)));
                var target = WorkspacePath.ResolveLink(parent, stat.LinkTarget ?? "");
                if (!WorkspacePath.IsInsideWorkspace(target) && target != WorkspacePath.Root)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidPath,
                        $"'{SafeText.Shorten(relative)}' goes through a symbolic link that points outside the workspace; refused.");
                }
                var rest = segments.Skip(i + 1);
                var inside = target == WorkspacePath.Root ? [] : target[(WorkspacePath.Root.Length + 1)..].Split('/');
                segments = inside.Concat(rest).ToList();
                relative = string.Join('/', segments);
                i = 0;
                stat = null;
                continue;
            }
            i++;
        }
        return (relative, stat);
    }
}
