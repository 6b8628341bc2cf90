using Docker.DotNet;
using Docker.DotNet.Models;
using Sandbox.Backend;

namespace Sandbox.Docker;

/// <summary>The Docker engine's archive API as the backend uses it: stat, put and get of workspace paths, with the
/// engine's answers for paths that vanished or changed meanwhile mapped to the engine's own error codes.</summary>
internal static class DockerArchive
{
    /// <summary>What is at a path in a container (null: nothing), through the archive API's stat.</summary>
    public static async Task<SandboxPathStat?> StatAsync(IDockerClient client, string containerId, string path, CancellationToken ct)
    {
        try
        {
            var response = await DockerCall.Run(() => client.Containers.GetArchiveFromContainerAsync(containerId,
                new ContainerPathStatParameters { Path = path }, true, ct)).ConfigureAwait(false);
            response.Stream?.Dispose();
            if (response.Stat is not { } stat)
            {
                return null;
            }
            // Go's os.FileMode bits: 1 << 31 directory, 1 << 27 symbolic link.
            var mode = (uint)stat.Mode;
            return new SandboxPathStat((mode & (1u << 31)) != 0, (mode & (1u << 27)) != 0, stat.Size, stat.LinkTarget);
        }
        catch (DockerContainerNotFoundException e) when (e.Message.Contains("path", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("file", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound && !e.Message.Contains("No such container", StringComparison.Ordinal))
        {
            return null;
        }
    }

    /// <summary>Extracts a tar stream into a directory of a container; a full workspace and a path that changed meanwhile are errors of their own.</summary>
    public static async Task PutAsync(IDockerClient client, string containerId, string directory, Stream tar, CancellationToken ct)
    {
        try
        {
            await DockerCall.Run(() => client.Containers.ExtractArchiveToContainerAsync(containerId,
                new CopyToContainerParameters { Path = directory, AllowOverwriteDirWithFile = false }, tar, ct)).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.Message.Contains("no space left", StringComparison.OrdinalIgnoreCase))
        {
            throw new SandboxException(SandboxErrorCodes.WorkspaceFull,
                "The session's workspace is full: nothing more fits. Delete files (list_files, delete_file), or create a session with a larger workspace_mb.", e);
        }
        catch (DockerApiException e) when (e.Message.Contains("cannot overwrite", StringComparison.OrdinalIgnoreCase)
                                           || e.Message.Contains("not a directory", StringComparison.OrdinalIgnoreCase))
        {
            // The sandbox changed the path meanwhile (a directory where a file goes, or the other way round).
            throw new SandboxException(SandboxErrorCodes.InvalidPath, "The path changed in the workspace while writing (a file where a directory is, or the reverse); nothing was written.", e);
        }
    }

    /// <summary>A path of a container as a tar stream.</summary>
    public static async Task<Stream> GetAsync(IDockerClient client, string containerId, string path, CancellationToken ct)
    {
        try
        {
            var response = await DockerCall.Run(() => client.Containers.GetArchiveFromContainerAsync(containerId,
                new ContainerPathStatParameters { Path = path }, false, ct)).ConfigureAwait(false);
            return response.Stream ?? throw new SandboxException(SandboxErrorCodes.Internal, "The engine returned no archive.");
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound && !e.Message.Contains("No such container", StringComparison.Ordinal))
        {
            // Removed between the check and the copy (code in the sandbox may change its files at any time).
            throw new SandboxException(SandboxErrorCodes.FileNotFound, "The file is no longer in the workspace (it was removed while being read).", e);
        }
    }
}
