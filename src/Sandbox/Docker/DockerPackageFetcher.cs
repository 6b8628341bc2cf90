using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Packages;

namespace Sandbox.Docker;

/// <summary>The package fetcher: a short-lived container on a network with registry access (never a session's),
/// with the shared package cache volume mounted.</summary>
public sealed class DockerPackageFetcher(DockerBackend backend, IOptions<SandboxOptions> options) : IPackageFetcher
{
    private readonly IDockerClient _client = backend.Client;
    private readonly SandboxOptions _options = options.Value;

    /// <summary>Runs the fetcher to completion. Its container stays (stopped) until the result is disposed: the
    /// fetched files are copied out of the cache through it.</summary>
    public async Task<IFetchedPackages> FetchAsync(PackageFetchRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (image, network, cacheVolume, wheelDirectory, requestJson, timeout) = request;
        var helperId = "fetch-" + Guid.NewGuid().ToString("N");
        // Named and labelled like a session, so the orphan sweep removes it if the server dies mid-fetch.
        var labels = SandboxLabels.Of(_options.InstanceId, helperId, SandboxLabels.RolePackageFetcher, DateTimeOffset.UtcNow);
        await Call(() => _client.Volumes.CreateAsync(new VolumesCreateParameters
        {
            Name = cacheVolume,
            Labels = SandboxLabels.Shared(SandboxLabels.RolePackageCache),
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
                Name = DockerBackend.ContainerName(helperId),
                Image = image,
                Cmd = ["python3", "-I", "-c", EmbeddedScript.PackageFetcher.Value, requestJson],
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
                return new Fetched(backend, created.ID, stdout, stderr);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new SandboxException(SandboxErrorCodes.Timeout, $"Fetching the packages took longer than {timeout.TotalSeconds} s (Sandbox:Packages:FetchTimeout).");
            }
        }
        catch
        {
            await backend.RemoveContainerQuietlyAsync(created.ID).ConfigureAwait(false);
            throw;
        }
    }

    private static Task<T> Call<T>(Func<Task<T>> call) => DockerCall.Run(call);

    private static Task Call(Func<Task> call) => DockerCall.Run(call);

    private sealed class Fetched(DockerBackend backend, string containerId, string stdout, string stderr) : IFetchedPackages
    {
        public string Stdout => stdout;

        public string Stderr => stderr;

        public Task<Stream> GetArchiveAsync(string cachePath, CancellationToken ct) => backend.GetArchiveAsync(containerId, cachePath + "/.", ct);

        public async ValueTask DisposeAsync() => await backend.RemoveContainerQuietlyAsync(containerId).ConfigureAwait(false);
    }
}
