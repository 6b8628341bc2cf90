using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Docker;

/// <summary>Docker engine backend: creates hardened, labelled session containers and moves files with the archive API.</summary>
public sealed class DockerBackend : ISandboxBackend, IDisposable
{
    private readonly DockerClient _client;
    private readonly SandboxOptions _options;
    private readonly ILogger<DockerBackend> _logger;
    private readonly string? _oneShotRuntime;
    private readonly ForeignImages _foreign;

    /// <summary>Creates the backend for the configured endpoint.</summary>
    /// <param name="options">The endpoint, API version, instance id and images.</param>
    /// <param name="logger">The log.</param>
    /// <param name="isolation">The runtime one-shot helper containers use (the container tier's); none: the engine's default.</param>
    public DockerBackend(IOptions<SandboxOptions> options, ILogger<DockerBackend> logger, IOptions<Isolation.IsolationOptions>? isolation = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        _oneShotRuntime = isolation?.Value.ContainerRuntime is { Length: > 0 } runtime && !string.IsNullOrWhiteSpace(runtime) ? runtime : null;
        _client = new DockerClientBuilder()
            .WithEndpoint(new Uri(ResolveEndpoint(_options.DockerEndpoint)))
            .WithApiVersion(System.Version.Parse(_options.DockerApiVersion))
            .Build();
        _foreign = new ForeignImages(_client, _options, logger);
    }

    /// <summary>The raw client, for tests and tools that need engine calls the backend does not wrap.</summary>
    public IDockerClient Client => _client;

    /// <summary>The endpoint used: the configured one, else <c>DOCKER_HOST</c>, else the default socket.</summary>
    public static string ResolveEndpoint(string? configured) =>
        !string.IsNullOrWhiteSpace(configured) ? configured
        : Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } env ? env
        : "unix:///var/run/docker.sock";

    /// <inheritdoc />
    public async Task<EngineStatus> GetEngineStatusAsync(CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var v = await _client.System.GetVersionAsync(timeout.Token).ConfigureAwait(false);
            return new EngineStatus(true, v.Version, v.APIVersion, null);
        }
        catch (Exception e) when (DockerCall.IsEngineDown(e) || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            return new EngineStatus(false, null, null, e.Message);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlySet<string>> GetRuntimesAsync(CancellationToken ct)
    {
        var info = await Call(() => _client.System.GetSystemInfoAsync(ct)).ConfigureAwait(false);
        var runtimes = new HashSet<string>(info.Runtimes?.Keys ?? [], StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(info.DefaultRuntime))
        {
            runtimes.Add(info.DefaultRuntime);
        }
        return runtimes;
    }

    /// <inheritdoc />
    public async Task PrepareForeignImageAsync(string reference, CancellationToken ct)
    {
        await _foreign.EnsurePulledAsync(reference, ct).ConfigureAwait(false);
        await _foreign.RuntimeVolumeAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<HostResources> GetHostResourcesAsync(CancellationToken ct)
    {
        var info = await Call(() => _client.System.GetSystemInfoAsync(ct)).ConfigureAwait(false);
        return new HostResources((int)info.NCPU, info.MemTotal);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ImageStatus>> GetImageStatusAsync(CancellationToken ct)
    {
        var list = new List<ImageStatus>();
        foreach (var (name, reference) in _options.Images.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            list.Add(await GetImageStatusAsync(name, reference, ct).ConfigureAwait(false));
        }
        if (_options.ImagePatterns.Count > 0)
        {
            // Images named by reference need the runner's runtime.
            list.Add(await GetImageStatusAsync("runtime", _options.RuntimeImage, ct).ConfigureAwait(false));
        }
        return list;
    }

    /// <inheritdoc />
    public async Task<ImageStatus> GetImageStatusAsync(string name, string reference, CancellationToken ct)
    {
        try
        {
            var image = await Call(() => _client.Images.InspectImageAsync(reference, ct)).ConfigureAwait(false);
            string? hash = null;
            image.Config?.Labels?.TryGetValue("dev.sandbox.inputs-hash", out hash);
            return new ImageStatus(name, reference, true, image.ID, hash);
        }
        catch (DockerImageNotFoundException)
        {
            return new ImageStatus(name, reference, false, null, null);
        }
    }

    /// <inheritdoc />
    public async Task<SandboxHandle> CreateSandboxAsync(SandboxSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        try
        {
            var (containerId, stream) = await CreateAndStartAsync(spec, ct).ConfigureAwait(false);
            return new SandboxHandle(containerId, new DockerRunnerStream(stream));
        }
        catch (Exception e)
        {
            await RemoveQuietlyAsync(spec.SessionId).ConfigureAwait(false);
            if (e is OperationCanceledException)
            {
                // A create the engine received before the cancellation may still complete after it (the request is
                // gone, the work is not; seen as a "Created" container left by a server stopping mid-create): look
                // again once it has had the time to.
                await Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
                await RemoveQuietlyAsync(spec.SessionId).ConfigureAwait(false);
            }
            if (e is DockerImageNotFoundException or DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound })
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound,
                    $"Image '{spec.ImageReference}' is not built on this engine. Run deploy/build-images.sh.", e);
            }
            throw;
        }
    }

    /// <summary>Creates the session's workspace volume and container (not started), attaches to it, then starts it.</summary>
    private async Task<(string ContainerId, MultiplexedStream Stream)> CreateAndStartAsync(SandboxSpec spec, CancellationToken ct)
    {
        var limits = spec.Limits;
        var name = ContainerName(spec.SessionId);
        var allLabels = SandboxLabels.Of(_options.InstanceId, spec.SessionId, null, DateTimeOffset.UtcNow, spec.Labels);
        // A tmpfs-backed named volume: bounded in size (overlay2 here cannot bound disk), visible to the archive API.
        await Call(() => _client.Volumes.CreateAsync(ContainerSpecs.SessionWorkspace(name, limits, allLabels), ct)).ConfigureAwait(false);
        if (spec.CallerContext)
        {
            await Call(() => _client.Volumes.CreateAsync(ContainerSpecs.SessionContext(name, limits, allLabels), ct)).ConfigureAwait(false);
        }
        foreach (var volume in spec.Volumes)
        {
            await Call(() => _client.Volumes.CreateAsync(ContainerSpecs.SessionVolume(name, volume, allLabels), ct)).ConfigureAwait(false);
        }
        string? runtimeVolume = null;
        if (spec.ForeignImage)
        {
            runtimeVolume = await _foreign.RuntimeVolumeAsync(ct).ConfigureAwait(false);
        }
        var parameters = ContainerSpecs.Session(name, spec, allLabels, runtimeVolume);
        var created = await Call(() => _client.Containers.CreateContainerAsync(parameters, ct)).ConfigureAwait(false);
        var stream = await Call(() => _client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters
        {
            Stream = true, Stdin = true, Stdout = true, Stderr = true,
        }, ct)).ConfigureAwait(false);
        try
        {
            await Call(() => _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct)).ConfigureAwait(false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return (created.ID, stream);
    }

    /// <inheritdoc />
    public async Task RemoveSandboxAsync(string sessionId, CancellationToken ct)
    {
        var name = ContainerName(sessionId);
        try
        {
            // A paused gVisor sandbox cannot be killed (its kernel is frozen, and the engine gives up after 10 s): thaw first.
            if (await GetStateAsync(name, ct).ConfigureAwait(false) is { Paused: true })
            {
                await UnpauseAsync(name, ct).ConfigureAwait(false);
            }
            await Call(() => _client.Containers.RemoveContainerAsync(name, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Removal already in progress.
        }
        await RemoveVolumeAsync(name, ct).ConfigureAwait(false);
        await RemoveVolumeAsync(ContainerSpecs.ContextVolume(name), ct).ConfigureAwait(false);
        // Its copies of named volumes (name-vol0 …), found by its label.
        var copies = await Call(() => _client.Volumes.ListAsync(new VolumesListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.SessionId}={sessionId}"] = true } },
        }, ct)).ConfigureAwait(false);
        foreach (var v in (copies.Volumes ?? []).Where(v => v.Name.StartsWith(name + "-vol", StringComparison.Ordinal)))
        {
            await RemoveVolumeAsync(v.Name, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Removes a volume of a removed sandbox (none: nothing to do), waiting briefly while the engine still
    /// holds it.</summary>
    private async Task RemoveVolumeAsync(string name, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await Call(() => _client.Volumes.RemoveAsync(name, true, ct)).ConfigureAwait(false);
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict && attempt < 20)
            {
                // Still in use while the container is being torn down.
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ManagedResource>> ListSandboxesAsync(CancellationToken ct)
    {
        var containers = await Call(() => _client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = SandboxLabels.Selectors().ToDictionary(s => s, _ => true),
            },
        }, ct)).ConfigureAwait(false);
        return containers.Select(c => ManagedResource.FromLabels(c.Labels)).OfType<ManagedResource>().ToList();
    }

    /// <inheritdoc />
    public Task<SandboxPathStat?> StatAsync(string containerId, string path, CancellationToken ct) => DockerArchive.StatAsync(_client, containerId, path, ct);

    /// <inheritdoc />
    public Task PutArchiveAsync(string containerId, string directory, Stream tar, CancellationToken ct) => DockerArchive.PutAsync(_client, containerId, directory, tar, ct);

    /// <inheritdoc />
    public Task<Stream> GetArchiveAsync(string containerId, string path, CancellationToken ct) => DockerArchive.GetAsync(_client, containerId, path, ct);

    /// <inheritdoc />
    public Task<Stream> ConnectPortAsync(string containerId, int port, CancellationToken ct) => PortRelay.ConnectAsync(_client, containerId, port, ct);

    /// <inheritdoc />
    public async Task<SandboxState?> GetStateAsync(string containerId, CancellationToken ct)
    {
        try
        {
            var inspect = await Call(() => _client.Containers.InspectContainerAsync(containerId, ct)).ConfigureAwait(false);
            return new SandboxState(inspect.State?.Running == true, inspect.State?.Paused == true, inspect.State?.OOMKilled == true);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<RunnerStream> AttachAsync(string containerId, CancellationToken ct) =>
        new DockerRunnerStream(await Call(() => _client.Containers.AttachContainerAsync(containerId, new ContainerAttachParameters
        {
            Stream = true, Stdin = true, Stdout = true, Stderr = true,
        }, ct)).ConfigureAwait(false));

    /// <inheritdoc />
    public async Task PauseAsync(string containerId, CancellationToken ct)
    {
        try
        {
            await Call(() => _client.Containers.PauseContainerAsync(containerId, ct)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerContainerNotFoundException || e is DockerApiException { StatusCode: System.Net.HttpStatusCode.Conflict })
        {
            throw new SandboxException(SandboxErrorCodes.SessionLost, "The session's container is not running any more; it cannot be paused. Close it and create a new session.", e);
        }
    }

    /// <inheritdoc />
    public async Task UnpauseAsync(string containerId, CancellationToken ct)
    {
        try
        {
            await Call(() => _client.Containers.UnpauseContainerAsync(containerId, ct)).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict
                                           || e.StatusCode == System.Net.HttpStatusCode.InternalServerError && e.Message.Contains("not paused", StringComparison.OrdinalIgnoreCase))
        {
            // Already running (another call resumed it first).
        }
    }

    /// <inheritdoc />
    public async Task KillAsync(string containerId, CancellationToken ct)
    {
        try
        {
            await Call(() => _client.Containers.KillContainerAsync(containerId, new ContainerKillParameters(), ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Not running.
        }
    }

    /// <inheritdoc />
    public Task LoadIntoNestedEngineAsync(string containerId, string imageReference, string dockerHost, CancellationToken ct) =>
        NestedEngineLoader.LoadAsync(_client, containerId, imageReference, dockerHost, ct);

    /// <inheritdoc />
    public async Task<string> RunOneShotAsync(string imageReference, IList<string> command, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var helperId = "oneshot-" + Guid.NewGuid().ToString("N");
        // Named like a session so the orphan sweep can remove it by name if the server dies meanwhile.
        var created = await Call(() => _client.Containers.CreateContainerAsync(ContainerSpecs.OneShot(ContainerName(helperId), helperId, imageReference, command,
            _options.InstanceId, _oneShotRuntime), cts.Token)).ConfigureAwait(false);
        try
        {
            using var stream = await Call(() => _client.Containers.AttachContainerAsync(created.ID,
                new ContainerAttachParameters { Stream = true, Stdout = true, Stderr = true }, cts.Token)).ConfigureAwait(false);
            await Call(() => _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cts.Token)).ConfigureAwait(false);
            var (stdout, _) = await stream.ReadOutputToEndAsync(cts.Token).ConfigureAwait(false);
            return stdout;
        }
        finally
        {
            await RemoveContainerQuietlyAsync(created.ID).ConfigureAwait(false);
        }
    }

    /// <summary>Removes a session's sandbox, logging (not throwing) when that fails.</summary>
    private async Task RemoveQuietlyAsync(string sessionId)
    {
        using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await RemoveSandboxAsync(sessionId, cleanup.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Cleanup after a failure: logged; the original error is what the caller hears about.
            DockerCall.LogCleanupFailed(_logger, ContainerName(sessionId), e.Message);
        }
    }

    /// <summary>Removes a helper container, logging (not throwing) when that fails.</summary>
    internal Task RemoveContainerQuietlyAsync(string containerId) => DockerCall.RemoveQuietlyAsync(_client, containerId, _logger);

    /// <summary>The container name of a session.</summary>
    public static string ContainerName(string sessionId) => "sandbox-" + sessionId;

    private static Task<T> Call<T>(Func<Task<T>> call) => DockerCall.Run(call);

    private static Task Call(Func<Task> call) => DockerCall.Run(call);

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
