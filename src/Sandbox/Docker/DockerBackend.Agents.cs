using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;

namespace Sandbox.Docker;

/// <summary>What the model proxy of one agent run forwards to, and with which credential.</summary>
/// <param name="Upstream">The model endpoint URL.</param>
/// <param name="AuthHeader"><c>x-api-key</c> or <c>authorization</c>.</param>
/// <param name="ApiKey">The key; null to forward without one.</param>
/// <param name="AllowedPaths">Paths forwarded (trailing <c>*</c>: prefix); empty: all.</param>
internal sealed record ModelProxyConfig(Uri Upstream, string AuthHeader, string? ApiKey, IReadOnlyList<string> AllowedPaths);

/// <summary>
/// Agent networking. For the length of one run, the session container leaves network <c>none</c> for an internal
/// Docker network (no route anywhere) whose only other member is the run's model proxy, which also joins the egress
/// network and forwards to the one configured model endpoint, adding the API key itself. After the run the session is
/// back on <c>none</c> and the proxy and network are gone. Every piece carries our labels, so a crash mid-run leaves
/// nothing the next start cannot find and remove.
/// </summary>
public sealed partial class DockerBackend
{
    /// <summary>The host name of the model proxy on a run's internal network.</summary>
    public const string ModelProxyHost = "model-proxy";

    /// <summary>The port the model proxy listens on.</summary>
    public const int ModelProxyPort = 8080;

    private static readonly Lazy<string> ProxySource = EmbeddedScript("Sandbox.Agents.model_proxy.py");

    /// <summary>Name of a session's agent network.</summary>
    public static string AgentNetworkName(string sessionId) => "sandbox-agent-" + sessionId;

    /// <summary>Name of a session's model proxy container.</summary>
    public static string ModelProxyName(string sessionId) => "sandbox-proxy-" + sessionId;

    /// <summary>
    /// Creates the run's internal network and model proxy, then moves the session container onto that network.
    /// On failure everything created so far is removed again.
    /// </summary>
    internal async Task<ModelProxyHandle> OpenAgentNetworkAsync(string sessionId, string sessionContainerId, string proxyImage,
        ModelProxyConfig config, string egressNetwork, CancellationToken ct)
    {
        var network = AgentNetworkName(sessionId);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SandboxLabels.Product] = SandboxLabels.ProductValue,
            [SandboxLabels.Instance] = _options.InstanceId,
            [SandboxLabels.SessionId] = sessionId,
            [SandboxLabels.CreatedAt] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        MultiplexedStream? stream = null;
        try
        {
            // Leftovers of a run that crashed would make the names clash.
            await CloseAgentNetworkAsync(sessionId, sessionContainerId, ct).ConfigureAwait(false);
            await Call(() => _client.Networks.CreateNetworkAsync(new NetworksCreateParameters
            {
                Name = network,
                Driver = "bridge",
                Internal = true,
                Attachable = false,
                // An internal network still routes to the host itself (the bridge's gateway address answers for every
                // host address, so any host service would be reachable). Without an address on the bridge the host is
                // not reachable at all; the members of the network (the session and its proxy) still reach each other.
                Options = new Dictionary<string, string> { ["com.docker.network.bridge.inhibit_ipv4"] = "true" },
                Labels = new Dictionary<string, string>(labels) { [SandboxLabels.Role] = SandboxLabels.RoleAgentNetwork },
            }, ct)).ConfigureAwait(false);

            var created = await Call(() => _client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = ModelProxyName(sessionId),
                Image = proxyImage,
                Cmd = ["python3", "-I", "-u", "-c", ProxySource.Value],
                Entrypoint = [],
                User = "65534:65534",
                WorkingDir = "/",
                Env = ["PYTHONDONTWRITEBYTECODE=1"],
                Labels = new Dictionary<string, string>(labels) { [SandboxLabels.Role] = SandboxLabels.RoleModelProxy },
                AttachStdin = true, AttachStdout = true, AttachStderr = true, OpenStdin = true, StdinOnce = false, Tty = false,
                HostConfig = new HostConfig
                {
                    Init = true,
                    NetworkMode = network,
                    Memory = 128L << 20, MemorySwap = 128L << 20, NanoCPUs = 500_000_000, PidsLimit = 64,
                    ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                    Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=8m" },
                    LogConfig = new LogConfig { Type = "none" },
                    RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
                },
                NetworkingConfig = new NetworkingConfig
                {
                    EndpointsConfig = new Dictionary<string, EndpointSettings>
                    {
                        [network] = new EndpointSettings { Aliases = [ModelProxyHost] },
                    },
                },
            }, ct)).ConfigureAwait(false);
            await Call(() => _client.Networks.ConnectNetworkAsync(egressNetwork, new NetworkConnectParameters { Container = created.ID }, ct))
                .ConfigureAwait(false);
            stream = await Call(() => _client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters
            {
                Stream = true, Stdin = true, Stdout = true, Stderr = true,
            }, ct)).ConfigureAwait(false);
            await Call(() => _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct)).ConfigureAwait(false);
            var handle = new ModelProxyHandle(stream, sessionId, _logger);
            stream = null;
            try
            {
                // The configuration, key included, travels over the attached stdin: no environment, no file, no inspect.
                await handle.SendConfigAsync(config, ModelProxyPort, ct).ConfigureAwait(false);
                using var ready = CancellationTokenSource.CreateLinkedTokenSource(ct);
                ready.CancelAfter(TimeSpan.FromSeconds(20));
                await handle.Ready.WaitAsync(ready.Token).ConfigureAwait(false);

                // Only now does the session get a network: the internal one, where the proxy is all there is.
                await Call(() => _client.Networks.DisconnectNetworkAsync("none", new NetworkDisconnectParameters { Container = sessionContainerId, Force = true }, ct))
                    .ConfigureAwait(false);
                await Call(() => _client.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters { Container = sessionContainerId }, ct))
                    .ConfigureAwait(false);
                return handle;
            }
            catch
            {
                await handle.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch (Exception e)
        {
            stream?.Dispose();
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await CloseAgentNetworkAsync(sessionId, sessionContainerId, cleanup.Token).ConfigureAwait(false);
            }
            catch (Exception cleanupError) when (cleanupError is SandboxException or DockerApiException or OperationCanceledException)
            {
                LogAgentNetworkCleanup(_logger, sessionId, cleanupError.Message);
            }
            if (e is DockerImageNotFoundException)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The model proxy image '{proxyImage}' is not present on the engine.", e);
            }
            if (e is DockerNetworkNotFoundException || e is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound } && e.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.Internal, $"The agent egress network '{egressNetwork}' does not exist on the engine (Sandbox:Agents:EgressNetwork).", e);
            }
            throw;
        }
    }

    /// <summary>
    /// Puts the session container back on network <c>none</c> and removes the run's proxy and network.
    /// Idempotent: absent pieces are fine (used after every run, at start-up and when closing a session).
    /// </summary>
    internal async Task CloseAgentNetworkAsync(string sessionId, string? sessionContainerId, CancellationToken ct)
    {
        var network = AgentNetworkName(sessionId);
        try
        {
            await Call(() => _client.Containers.RemoveContainerAsync(ModelProxyName(sessionId), new ContainerRemoveParameters { Force = true }, ct))
                .ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
        }
        if (sessionContainerId is not null)
        {
            await IsolateAsync(sessionContainerId, ct).ConfigureAwait(false);
        }
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await Call(() => _client.Networks.DeleteNetworkAsync(network, ct)).ConfigureAwait(false);
                return;
            }
            catch (DockerNetworkNotFoundException)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.Conflict or System.Net.HttpStatusCode.Forbidden && attempt < 20)
            {
                // Endpoints still being torn down.
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Moves a session container off every network and back onto <c>none</c> (no-op when it is there).</summary>
    private async Task IsolateAsync(string containerId, CancellationToken ct)
    {
        ContainerInspectResponse inspect;
        try
        {
            inspect = await Call(() => _client.Containers.InspectContainerAsync(containerId, ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return;
        }
        var networks = inspect.NetworkSettings?.Networks?.Keys.ToList() ?? [];
        if (networks.Count == 1 && networks[0] == "none")
        {
            return;
        }
        foreach (var name in networks.Where(n => n != "none"))
        {
            try
            {
                await Call(() => _client.Networks.DisconnectNetworkAsync(name, new NetworkDisconnectParameters { Container = containerId, Force = true }, ct))
                    .ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.NotFound)
            {
            }
        }
        if (!networks.Contains("none"))
        {
            await Call(() => _client.Networks.ConnectNetworkAsync("none", new NetworkConnectParameters { Container = containerId }, ct)).ConfigureAwait(false);
        }
    }

    /// <summary>Networks carrying our product label (agent networks), of every instance.</summary>
    internal async Task<IList<NetworkResponse>> ListManagedNetworksAsync(CancellationToken ct) =>
        await Call(() => _client.Networks.ListNetworksAsync(new NetworksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Product}={SandboxLabels.ProductValue}"] = true },
            },
        }, ct)).ConfigureAwait(false);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: could not remove the agent network or proxy: {Error}")]
    private static partial void LogAgentNetworkCleanup(ILogger logger, string sessionId, string error);
}

/// <summary>The engine's end of a running model proxy: sends its configuration, waits until it listens, logs its
/// request lines (method, path, status: the proxy never prints headers or bodies).</summary>
internal sealed partial class ModelProxyHandle : IAsyncDisposable
{
    private readonly MultiplexedStream _stream;
    private readonly string _sessionId;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _readLoop;
    private int _requests;

    public ModelProxyHandle(MultiplexedStream stream, string sessionId, ILogger logger)
    {
        _stream = stream;
        _sessionId = sessionId;
        _logger = logger;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes once the proxy listens.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Requests the proxy forwarded (or refused).</summary>
    public int Requests => Volatile.Read(ref _requests);

    public async Task SendConfigAsync(ModelProxyConfig config, int port, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["port"] = port,
            ["upstream"] = config.Upstream.GetLeftPart(UriPartial.Path),
            ["auth_header"] = config.AuthHeader,
            ["auth_value"] = config.ApiKey is null ? null : config.AuthHeader == "authorization" ? "Bearer " + config.ApiKey : config.ApiKey,
            ["allowed_paths"] = config.AllowedPaths,
        });
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await _stream.WriteAsync(line, 0, line.Length, ct).ConfigureAwait(false);
        Array.Clear(line);
        Array.Clear(json);
    }

    private async Task ReadLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16384);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        try
        {
            while (true)
            {
                var result = await _stream.ReadOutputAsync(buffer, 0, buffer.Length, _cts.Token).ConfigureAwait(false);
                if (result.EOF)
                {
                    break;
                }
                var text = Encoding.UTF8.GetString(buffer, 0, result.Count);
                var target = result.Target == MultiplexedStream.TargetStream.StandardError ? stderr : stdout;
                target.Append(text);
                if (target.Length > 64 * 1024)
                {
                    target.Clear(); // a proxy does not print that much; never buffer without bound
                }
                for (var nl = target.IndexOf('\n'); nl >= 0; nl = target.IndexOf('\n'))
                {
                    var line = target.ToString(0, nl);
                    target.Remove(0, nl + 1);
                    if (ReferenceEquals(target, stdout))
                    {
                        if (line.Contains("\"ready\"", StringComparison.Ordinal))
                        {
                            _ready.TrySetResult();
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref _requests);
                        LogProxyLine(_logger, _sessionId, line.Length > 300 ? line[..300] : line);
                    }
                }
            }
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal,
                "The model proxy stopped before it was ready" + (stderr.Length > 0 ? ": " + Shorten(stderr.ToString()) : ".")));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal, "The model proxy connection ended: " + e.Message));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Shorten(string text) => text.Length > 500 ? text[..500] : text;

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _stream.Dispose();
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
        _cts.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} model proxy: {Line}")]
    private static partial void LogProxyLine(ILogger logger, string sessionId, string line);
}
