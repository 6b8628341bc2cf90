using System.Globalization;
using System.Net.Sockets;
using System.Reflection;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Sessions;

namespace Sandbox.Docker;

/// <summary>Facts about the container engine for health reports.</summary>
/// <param name="Reachable">Whether the engine answered.</param>
/// <param name="Version">Engine version, when reachable.</param>
/// <param name="ApiVersion">Engine API version, when reachable.</param>
/// <param name="Error">Why it is not reachable.</param>
public sealed record EngineStatus(bool Reachable, string? Version, string? ApiVersion, string? Error);

/// <summary>Status of one configured session image.</summary>
/// <param name="Name">Short name callers use.</param>
/// <param name="Reference">Image reference.</param>
/// <param name="Present">Whether the engine has it.</param>
/// <param name="Id">Image id when present.</param>
/// <param name="InputsHash">The build-inputs hash label when present.</param>
public sealed record ImageStatus(string Name, string Reference, bool Present, string? Id, string? InputsHash);

/// <summary>The container engine operations sessions need. One implementation talks to Docker.</summary>
public interface ISandboxBackend
{
    /// <summary>Engine reachability and version.</summary>
    Task<EngineStatus> GetEngineStatusAsync(CancellationToken ct);

    /// <summary>Presence of every configured image.</summary>
    Task<IReadOnlyList<ImageStatus>> GetImageStatusAsync(CancellationToken ct);
}

/// <summary>Docker engine backend: creates hardened, labelled session containers and moves files with the archive API.</summary>
public sealed partial class DockerBackend : ISandboxBackend, IDisposable
{
    private static readonly Lazy<string> RunnerSource = EmbeddedScript("Sandbox.Runner.runner.py");

    /// <summary>The text of a script embedded in this assembly (the runner, the model proxy, the package fetcher), read
    /// once: each is passed to <c>python3 -c</c>, so any image with Python runs it and nothing is baked in.</summary>
    private static Lazy<string> EmbeddedScript(string resource) => new(() =>
    {
        using var stream = typeof(DockerBackend).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException(resource + " is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    private readonly DockerClient _client;
    private readonly SandboxOptions _options;
    private readonly ILogger<DockerBackend> _logger;

    /// <summary>Creates the backend for the configured endpoint.</summary>
    public DockerBackend(IOptions<SandboxOptions> options, ILogger<DockerBackend> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        _client = new DockerClientBuilder()
            .WithEndpoint(new Uri(ResolveEndpoint(_options.DockerEndpoint)))
            .WithApiVersion(System.Version.Parse(_options.DockerApiVersion))
            .Build();
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
        catch (Exception e) when (IsEngineDown(e) || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            return new EngineStatus(false, null, null, e.Message);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ImageStatus>> GetImageStatusAsync(CancellationToken ct)
    {
        var list = new List<ImageStatus>();
        foreach (var (name, reference) in _options.Images.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            list.Add(await GetImageStatusAsync(name, reference, ct).ConfigureAwait(false));
        }
        return list;
    }

    /// <summary>Presence of one image.</summary>
    internal async Task<ImageStatus> GetImageStatusAsync(string name, string reference, CancellationToken ct)
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

    /// <summary>Creates the session's workspace volume and container (not started), attaches to it, then starts it.</summary>
    /// <returns>The container id and the attached stream to its runner.</returns>
    internal async Task<(string ContainerId, MultiplexedStream Stream)> CreateAndStartAsync(
        string sessionId, string reference, SandboxLimits limits, IReadOnlyDictionary<string, string> labels, CancellationToken ct)
    {
        var name = ContainerName(sessionId);
        var allLabels = new Dictionary<string, string>(labels, StringComparer.Ordinal)
        {
            [SandboxLabels.Product] = SandboxLabels.ProductValue,
            [SandboxLabels.SessionId] = sessionId,
            [SandboxLabels.Instance] = _options.InstanceId,
        };
        // A tmpfs-backed named volume: bounded in size (overlay2 here cannot bound disk), visible to the archive API.
        await Call(() => _client.Volumes.CreateAsync(new VolumesCreateParameters
        {
            Name = name,
            Driver = "local",
            DriverOpts = new Dictionary<string, string>
            {
                ["type"] = "tmpfs",
                ["device"] = "tmpfs",
                ["o"] = string.Create(CultureInfo.InvariantCulture, $"size={limits.WorkspaceMb}m,nr_inodes={InodeBudget(limits.WorkspaceMb)},uid=1000,gid=1000,mode=0755,nosuid,nodev"),
            },
            Labels = allLabels,
        }, ct)).ConfigureAwait(false);

        var memory = limits.MemoryMb * 1024L * 1024L;
        var parameters = new CreateContainerParameters
        {
            Name = name,
            Image = reference,
            Labels = allLabels,
            // The runner is the engine's own code, passed as an argument so any image with python3 works.
            Cmd = ["python3", "-I", "-u", "-c", RunnerSource.Value],
            Entrypoint = [],
            User = "0:0",
            WorkingDir = "/workspace",
            Env = ["SANDBOX_UID=1000", "SANDBOX_GID=1000", "PYTHONDONTWRITEBYTECODE=1", "MPLCONFIGDIR=/tmp/matplotlib", "HOME=/workspace"],
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
            OpenStdin = true,
            StdinOnce = false,
            Tty = false,
            // Network mode none, not NetworkDisabled: a disabled network cannot be swapped for an agent run's internal
            // network (the container would get no interface and no resolver).
            HostConfig = new HostConfig
            {
                Init = true,
                NetworkMode = "none",
                Memory = memory,
                MemorySwap = memory,
                NanoCPUs = (long)(limits.Cpus * 1e9),
                PidsLimit = limits.Pids,
                ReadonlyRootfs = true,
                CapDrop = ["ALL"],
                // Only for the runner (uid 0): drop to uid 1000 for user code and stop runaway user processes.
                // User code runs as uid 1000 with no capabilities (no-new-privileges stops regaining any).
                CapAdd = ["SETUID", "SETGID", "KILL"],
                SecurityOpt = ["no-new-privileges"],
                Ulimits =
                [
                    new Ulimit { Name = "nofile", Soft = limits.NoFile, Hard = limits.NoFile },
                    new Ulimit { Name = "fsize", Soft = limits.FileSizeMb * 1024L * 1024L, Hard = limits.FileSizeMb * 1024L * 1024L },
                    new Ulimit { Name = "core", Soft = 0, Hard = 0 },
                ],
                Tmpfs = new Dictionary<string, string>
                {
                    ["/tmp"] = string.Create(CultureInfo.InvariantCulture, $"rw,nosuid,nodev,size={limits.TmpMb}m,nr_inodes={InodeBudget(limits.TmpMb)},mode=1777"),
                },
                ShmSize = 64L * 1024 * 1024,
                Mounts = [new Mount { Type = "volume", Source = name, Target = "/workspace" }],
                Runtime = string.IsNullOrWhiteSpace(_options.Runtime) ? null : _options.Runtime,
                LogConfig = new LogConfig { Type = "none" },
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
            },
        };
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

    /// <summary>Removes a session's container, volume and any agent network. Idempotent: absent resources are fine.</summary>
    internal async Task RemoveSessionAsync(string sessionId, CancellationToken ct)
    {
        var name = ContainerName(sessionId);
        try
        {
            await Call(() => _client.Containers.RemoveContainerAsync(name, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Removal already in progress.
        }
        // An agent run's proxy and network, if the session is removed during a run (or one was left by a crash).
        await CloseAgentNetworkAsync(sessionId, null, ct).ConfigureAwait(false);
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

    /// <summary>Containers (any state) carrying our product label.</summary>
    internal async Task<IList<ContainerListResponse>> ListManagedContainersAsync(bool allInstances, CancellationToken ct)
    {
        var labels = new Dictionary<string, bool> { [$"{SandboxLabels.Product}={SandboxLabels.ProductValue}"] = true };
        if (!allInstances)
        {
            labels[$"{SandboxLabels.Instance}={_options.InstanceId}"] = true;
        }
        return await Call(() => _client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = labels },
        }, ct)).ConfigureAwait(false);
    }

    /// <summary>Stat of a path in the container, or null when it does not exist.</summary>
    internal async Task<ContainerPathStatResponse?> StatAsync(string containerId, string path, CancellationToken ct)
    {
        try
        {
            var response = await Call(() => _client.Containers.GetArchiveFromContainerAsync(containerId,
                new ContainerPathStatParameters { Path = path }, true, ct)).ConfigureAwait(false);
            response.Stream?.Dispose();
            return response.Stat;
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

    /// <summary>Extracts a tar stream into a directory of the container.</summary>
    internal Task PutArchiveAsync(string containerId, string directory, Stream tar, CancellationToken ct) =>
        Call(() => _client.Containers.ExtractArchiveToContainerAsync(containerId,
            new CopyToContainerParameters { Path = directory, AllowOverwriteDirWithFile = false }, tar, ct));

    /// <summary>A tar stream of a path in the container. The caller disposes it.</summary>
    internal async Task<Stream> GetArchiveAsync(string containerId, string path, CancellationToken ct)
    {
        var response = await Call(() => _client.Containers.GetArchiveFromContainerAsync(containerId,
            new ContainerPathStatParameters { Path = path }, false, ct)).ConfigureAwait(false);
        return response.Stream ?? throw new SandboxException(SandboxErrorCodes.Internal, "The engine returned no archive.");
    }

    /// <summary>Whether a container exists, runs, and is paused; null when it does not exist.</summary>
    internal async Task<(bool Running, bool Paused)?> GetStateAsync(string containerId, CancellationToken ct)
    {
        try
        {
            var inspect = await Call(() => _client.Containers.InspectContainerAsync(containerId, ct)).ConfigureAwait(false);
            return (inspect.State?.Running == true, inspect.State?.Paused == true);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Attaches to a running container's stdin/stdout (to reconnect to its runner after a restart).</summary>
    internal Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken ct) =>
        Call(() => _client.Containers.AttachContainerAsync(containerId, new ContainerAttachParameters
        {
            Stream = true, Stdin = true, Stdout = true, Stderr = true,
        }, ct));

    /// <summary>Freezes every process of a container (cgroup freezer); its attached stream stays open.</summary>
    internal Task PauseAsync(string containerId, CancellationToken ct) => Call(() => _client.Containers.PauseContainerAsync(containerId, ct));

    /// <summary>Thaws a paused container.</summary>
    internal Task UnpauseAsync(string containerId, CancellationToken ct) => Call(() => _client.Containers.UnpauseContainerAsync(containerId, ct));

    /// <summary>Kills a container (used when its runner stops answering).</summary>
    internal async Task KillAsync(string containerId, CancellationToken ct)
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

    /// <summary>Runs a command to completion in a throw-away hardened container (no network, read-only, uid 1000)
    /// and returns its standard output. For short read-only queries such as listing an image's packages.</summary>
    internal async Task<string> RunOneShotAsync(string imageReference, IList<string> command, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var helperId = "oneshot-" + Guid.NewGuid().ToString("N");
        var created = await Call(() => _client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            // Named like a session so the orphan sweep can remove it by name if the server dies meanwhile.
            Name = ContainerName(helperId),
            Image = imageReference,
            Cmd = command,
            Entrypoint = [],
            User = "1000:1000",
            AttachStdout = true,
            AttachStderr = true,
            NetworkDisabled = true,
            Labels = new Dictionary<string, string>
            {
                [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = _options.InstanceId,
                [SandboxLabels.SessionId] = helperId,
            },
            HostConfig = new HostConfig
            {
                NetworkMode = "none", Memory = 256L << 20, MemorySwap = 256L << 20, PidsLimit = 64, NanoCPUs = 1_000_000_000,
                ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=16m" },
                Runtime = string.IsNullOrWhiteSpace(_options.Runtime) ? null : _options.Runtime,
            },
        }, cts.Token)).ConfigureAwait(false);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove one-shot container {ContainerId}: {Error}")]
    private static partial void LogOneShotCleanup(ILogger logger, string containerId, string error);

    /// <summary>The container name of a session.</summary>
    public static string ContainerName(string sessionId) => "sandbox-" + sessionId;

    /// <summary>
    /// Inodes a tmpfs of <paramref name="sizeMb"/> may hold: one per 4 KiB, at least 1024. Empty files use no blocks,
    /// so without this bound millions of empty files would turn into kernel memory charged to the session's cgroup
    /// until the OOM killer ends the session instead of the write failing with "No space left on device".
    /// </summary>
    internal static long InodeBudget(int sizeMb) => Math.Max(1024L, sizeMb * 256L);

    /// <summary>Runs an engine call and turns "engine not reachable" failures into <c>engine_unavailable</c>.</summary>
    internal static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (IsEngineDown(e))
        {
            throw new SandboxException(SandboxErrorCodes.EngineUnavailable,
                "The Docker engine is not reachable; retry when it is back (see /healthz).", e);
        }
    }

    internal static async Task Call(Func<Task> call) => await Call(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    }).ConfigureAwait(false);

    private static bool IsEngineDown(Exception e) =>
        e is HttpRequestException or SocketException or TimeoutException or IOException
        || e.InnerException is not null && IsEngineDown(e.InnerException);

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
