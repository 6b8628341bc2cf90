using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;

namespace Sandbox.Docker;

/// <summary>The package fetcher: a short-lived container on a network with registry access (never a session's),
/// with the shared package cache volume mounted.</summary>
public sealed partial class DockerBackend
{
    private static readonly Lazy<string> FetcherSource = EmbeddedScript("Sandbox.Packages.fetcher.py");

    /// <summary>Runs the fetcher to completion and returns its container (stopped, not removed: the caller copies the
    /// fetched files out of the cache through it, then calls <see cref="RemoveContainerQuietlyAsync"/>) and its output.</summary>
    internal async Task<(string ContainerId, string Stdout, string Stderr)> RunFetcherAsync(string image, string network, string cacheVolume,
        string? wheelDirectory, string requestJson, TimeSpan timeout, CancellationToken ct)
    {
        var helperId = "fetch-" + Guid.NewGuid().ToString("N");
        var labels = new Dictionary<string, string>
        {
            [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = _options.InstanceId,
            // Named and labelled like a session, so the orphan sweep removes it if the server dies mid-fetch.
            [SandboxLabels.SessionId] = helperId, [SandboxLabels.Role] = SandboxLabels.RolePackageFetcher,
            [SandboxLabels.CreatedAt] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        await Call(() => _client.Volumes.CreateAsync(new VolumesCreateParameters
        {
            Name = cacheVolume,
            Labels = new Dictionary<string, string> { [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Role] = SandboxLabels.RolePackageCache },
        }, ct)).ConfigureAwait(false);
        var mounts = new List<Mount> { new() { Type = "volume", Source = cacheVolume, Target = "/cache" } };
        if (!string.IsNullOrWhiteSpace(wheelDirectory))
        {
            mounts.Add(new Mount { Type = "bind", Source = wheelDirectory, Target = "/wheels", ReadOnly = true });
        }
        CreateContainerResponse created;
        try
        {
            created = await Call(() => _client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = ContainerName(helperId),
                Image = image,
                Cmd = ["python3", "-I", "-c", FetcherSource.Value, requestJson],
                Entrypoint = [],
                // Root without capabilities: it writes the root-owned cache volume and nothing else of note.
                User = "0:0",
                WorkingDir = "/tmp",
                Labels = labels,
                AttachStdout = true, AttachStderr = true,
                HostConfig = new HostConfig
                {
                    NetworkMode = network, Memory = 1L << 30, MemorySwap = 1L << 30, PidsLimit = 256, NanoCPUs = 1_000_000_000,
                    ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                    Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=512m" },
                    Mounts = mounts,
                    LogConfig = new LogConfig { Type = "none" },
                },
            }, ct)).ConfigureAwait(false);
        }
        catch (DockerImageNotFoundException e)
        {
            throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The package fetcher image '{image}' is not present; build it with deploy/build-images.sh.", e);
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound && e.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
        {
            throw new SandboxException(SandboxErrorCodes.Internal, $"The package fetcher network '{network}' does not exist (Sandbox:Packages:FetcherNetwork).", e);
        }
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            using var stream = await Call(() => _client.Containers.AttachContainerAsync(created.ID,
                new ContainerAttachParameters { Stream = true, Stdout = true, Stderr = true }, cts.Token)).ConfigureAwait(false);
            await Call(() => _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cts.Token)).ConfigureAwait(false);
            try
            {
                var (stdout, stderr) = await stream.ReadOutputToEndAsync(cts.Token).ConfigureAwait(false);
                return (created.ID, stdout, stderr);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new SandboxException(SandboxErrorCodes.Timeout, $"Fetching the packages took longer than {timeout.TotalSeconds} s (Sandbox:Packages:FetchTimeout).");
            }
        }
        catch
        {
            await RemoveContainerQuietlyAsync(created.ID).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Removes a helper container, logging (not throwing) when that fails.</summary>
    internal async Task RemoveContainerQuietlyAsync(string containerId)
    {
        using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _client.Containers.RemoveContainerAsync(containerId, new ContainerRemoveParameters { Force = true }, cleanup.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or OperationCanceledException)
        {
            LogOneShotCleanup(_logger, containerId, e.Message);
        }
    }
}
