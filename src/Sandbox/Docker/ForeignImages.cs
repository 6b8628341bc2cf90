using Docker.DotNet;
using Docker.DotNet.Models;
using Sandbox.Backend;

namespace Sandbox.Docker;

/// <summary>
/// What a session from an image named by reference (one of the operator's <see cref="SandboxOptions.ImagePatterns"/>,
/// not built for this product) needs: the image itself, pulled when the engine lacks it, and the runner's own Python
/// runtime, which such an image may not have. The runtime comes from <see cref="SandboxOptions.RuntimeImage"/> (a
/// self-contained Python with its libraries and loader under <c>/opt/sandbox-runtime</c>), copied once into a shared,
/// labelled volume named after that image's id and mounted read-only into every such session.
/// </summary>
internal sealed class ForeignImages(DockerClient client, SandboxOptions options, Microsoft.Extensions.Logging.ILogger logger)
{
    /// <summary>Where the runtime is mounted in a session.</summary>
    public const string RuntimePath = "/opt/sandbox-runtime";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _volume;

    /// <summary>Pulls <paramref name="reference"/> unless the engine has it, within <see cref="SandboxOptions.ImagePullTimeout"/>.</summary>
    public async Task EnsurePulledAsync(string reference, CancellationToken ct)
    {
        try
        {
            await DockerCall.Run(() => client.Images.InspectImageAsync(reference, ct)).ConfigureAwait(false);
            return;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Not here yet: pulled below.
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.ImagePullTimeout);
        var (repository, tag) = Split(reference);
        try
        {
            await DockerCall.Run(() => client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = repository, Tag = tag }, null,
                new Progress<JSONMessage>(), timeout.Token)).ConfigureAwait(false);
            await DockerCall.Run(() => client.Images.InspectImageAsync(reference, timeout.Token)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.ImageNotFound,
                $"Image '{SafeText.Shorten(reference, 200)}' is not on this engine and could not be pulled"
                + (e is OperationCanceledException ? $" within {options.ImagePullTimeout.TotalSeconds} s" : $": {SafeText.Shorten(e.Message, 200)}")
                + ". Pull or load it on the engine's host, or check the registry.", e);
        }
    }

    /// <summary>The shared volume holding the runner's runtime, made from <see cref="SandboxOptions.RuntimeImage"/> the
    /// first time it is needed (older ones, from earlier runtime images, are removed when unused).</summary>
    public async Task<string> RuntimeVolumeAsync(CancellationToken ct)
    {
        if (_volume is { } known)
        {
            return known;
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_volume is { } again)
            {
                return again;
            }
            ImageInspectResponse image;
            try
            {
                image = await DockerCall.Run(() => client.Images.InspectImageAsync(options.RuntimeImage, ct)).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound,
                    $"The runner's runtime image '{options.RuntimeImage}' is not built on this engine, so images named by reference cannot run. Run deploy/build-images.sh.", e);
            }
            var name = "sandbox-runtime-" + image.ID.Replace("sha256:", "", StringComparison.Ordinal)[..12];
            if (!await ExistsAsync(name, ct).ConfigureAwait(false))
            {
                await FillAsync(name, ct).ConfigureAwait(false);
            }
            await RemoveOldAsync(name, ct).ConfigureAwait(false);
            _volume = name;
            return name;
        }
        finally
        {
            _gate.Release();
        }
    }

    // The volume's content is complete once this second, empty volume exists: it is made only after the fill succeeded,
    // so a fill cut short (a crash) is made again instead of being used.
    private static string Marker(string volume) => volume + "-ok";

    private async Task<bool> ExistsAsync(string volume, CancellationToken ct)
    {
        try
        {
            await DockerCall.Run(() => client.Volumes.InspectAsync(Marker(volume), ct)).ConfigureAwait(false);
            return true;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>Fills a volume with the runtime image's <see cref="RuntimePath"/>: the engine copies an image's content at a
    /// mount point into an empty named volume when a container mounts it there; the helper then checks that the Python
    /// it holds starts, and the marker volume is made.</summary>
    private async Task FillAsync(string volume, CancellationToken ct)
    {
        var labels = SandboxLabels.Shared(SandboxLabels.RoleRuntime);
        await DockerCall.RemoveVolumeQuietlyAsync(client, volume, logger).ConfigureAwait(false); // a fill cut short before
        await DockerCall.Run(() => client.Volumes.CreateAsync(new VolumesCreateParameters { Name = volume, Labels = labels }, ct)).ConfigureAwait(false);
        try
        {
            await RunHelperAsync(
                [RuntimePath + "/lib/ld.so", "--library-path", RuntimePath + "/lib", RuntimePath + "/bin/python3", "-I", "-c", "import json, ssl, pty"],
                [new Mount { Type = "volume", Source = volume, Target = RuntimePath, ReadOnly = false }], ct).ConfigureAwait(false);
            await DockerCall.Run(() => client.Volumes.CreateAsync(new VolumesCreateParameters { Name = Marker(volume), Labels = labels }, ct)).ConfigureAwait(false);
        }
        catch
        {
            await DockerCall.RemoveVolumeQuietlyAsync(client, volume, logger).ConfigureAwait(false);
            throw;
        }
    }

    private async Task RunHelperAsync(IList<string> cmd, IList<Mount> mounts, CancellationToken ct)
    {
        var helperId = "runtime-" + Guid.NewGuid().ToString("N");
        var created = await DockerCall.Run(() => client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = DockerBackend.ContainerName(helperId),
            Image = options.RuntimeImage,
            Cmd = cmd,
            Entrypoint = [],
            User = "0:0",
            Labels = SandboxLabels.Of(options.InstanceId, helperId, SandboxLabels.RoleRuntime, DateTimeOffset.UtcNow),
            HostConfig = new HostConfig
            {
                NetworkMode = "none", Memory = 256L << 20, MemorySwap = 256L << 20, PidsLimit = 64, CapDrop = ["ALL"],
                SecurityOpt = ["no-new-privileges"], Mounts = mounts, LogConfig = new LogConfig { Type = "none" },
            },
        }, ct)).ConfigureAwait(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromMinutes(2));
            await DockerCall.Run(() => client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), timeout.Token)).ConfigureAwait(false);
            var done = await DockerCall.Run(() => client.Containers.WaitContainerAsync(created.ID, timeout.Token)).ConfigureAwait(false);
            if (done.StatusCode != 0)
            {
                throw new SandboxException(SandboxErrorCodes.Internal, $"Preparing the runner's runtime failed (exit {done.StatusCode}).");
            }
        }
        finally
        {
            await DockerCall.RemoveQuietlyAsync(client, created.ID, logger).ConfigureAwait(false);
        }
    }

    private async Task RemoveOldAsync(string current, CancellationToken ct)
    {
        var all = await DockerCall.Run(() => client.Volumes.ListAsync(new VolumesListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Role}={SandboxLabels.RoleRuntime}"] = true },
            },
        }, ct)).ConfigureAwait(false);
        foreach (var v in all.Volumes ?? [])
        {
            if (v.Name != current && v.Name != Marker(current) && v.Name.StartsWith("sandbox-runtime-", StringComparison.Ordinal))
            {
                await DockerCall.RemoveVolumeQuietlyAsync(client, v.Name, logger).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The repository and tag of a reference (a digest stays on the repository; no tag means latest).</summary>
    internal static (string Repository, string Tag) Split(string reference)
    {
        if (reference.Contains('@', StringComparison.Ordinal))
        {
            return (reference, "");
        }
        var slash = reference.LastIndexOf('/');
        var colon = reference.LastIndexOf(':');
        return colon > slash ? (reference[..colon], reference[(colon + 1)..]) : (reference, "latest");
    }
}
