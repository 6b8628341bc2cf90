using System.Globalization;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Egress;
using Sandbox.Git;

namespace Sandbox.Docker;

/// <summary>
/// The git helper on Docker: a short-lived container (the agent image's git, as the sandbox user, read-only root, no
/// capabilities) with the session's workspace volume mounted, whose one way out is its own egress proxy letting out
/// exactly the repository's host and port. A credential is added by that proxy (TLS to the host is terminated with a
/// certificate of a CA made for this helper alone), so no credential enters the helper or the session. The helper and
/// its network carry our labels and are named like a session, so a crash leaves nothing the orphan sweep misses.
/// </summary>
internal sealed partial class DockerGitHelper(DockerBackend backend, IEgressNetwork egress, IOptions<SandboxOptions> options,
    IOptions<Egress.EgressOptions> egressOptions, ILogger<DockerGitHelper> logger) : IGitHelper
{
    private readonly IDockerClient _client = backend.Client;
    private readonly SandboxOptions _options = options.Value;
    private readonly Egress.EgressOptions _egress = egressOptions.Value;

    /// <inheritdoc />
    public async Task<JsonElement> RunAsync(GitHelperRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(run);
        var helperId = "git-" + Guid.NewGuid().ToString("N");
        var host = run.Host.ToLowerInvariant();
        var labels = SandboxLabels.Of(_options.InstanceId, helperId, SandboxLabels.RoleGitHelper, DateTimeOffset.UtcNow);
        string? containerId = null;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(run.Timeout);
        try
        {
            try
            {
                containerId = (await DockerCall.Run(() => _client.Containers.CreateContainerAsync(new CreateContainerParameters
                {
                    Name = DockerBackend.ContainerName(helperId),
                    Image = run.Image,
                    Entrypoint = [],
                    Cmd = ["python3", "-I", "-c", EmbeddedScript.GitHelper.Value],
                    User = "1000:1000",
                    WorkingDir = "/tmp",
                    Env = ["HOME=/tmp/home"],
                    Labels = labels,
                    OpenStdin = true, StdinOnce = true, AttachStdin = true, AttachStdout = true, AttachStderr = true,
                    HostConfig = new HostConfig
                    {
                        NetworkMode = "none", Memory = 2L << 30, MemorySwap = 2L << 30, PidsLimit = 256, NanoCPUs = 1_000_000_000,
                        ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                        Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=1g" },
                        Mounts = [new Mount { Type = "volume", Source = DockerBackend.ContainerName(run.SessionId), Target = run.Writable ? "/workspace" : "/src", ReadOnly = !run.Writable }],
                        LogConfig = new LogConfig { Type = "none" },
                    },
                }, cts.Token)).ConfigureAwait(false)).ID;
            }
            catch (DockerImageNotFoundException e)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The git helper image '{run.Image}' is not present; build it with deploy/build-images.sh.", e);
            }
            string? caPem = null;
            var secrets = new List<EgressProxySecret>();
            if (run.Credential is { } credential)
            {
                var (ca, leaves) = SessionCertificates.Create(helperId, [host], TimeSpan.FromHours(3));
                caPem = ca;
                var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username ?? ""}:{credential.Token}"));
                secrets.Add(new EgressProxySecret("git", host, "Authorization", "Basic " + basic, leaves[0].CertificatePem, leaves[0].KeyPem));
            }
            var upstreamCa = string.IsNullOrEmpty(_egress.UpstreamCaFile) ? null : await File.ReadAllTextAsync(_egress.UpstreamCaFile, cts.Token).ConfigureAwait(false);
            var config = new EgressProxyConfig([EgressPattern.Parse(host + ":" + run.Port.ToString(CultureInfo.InvariantCulture))],
                _egress.PermittedAddresses, secrets, upstreamCa, 16);
            var proxyImage = string.IsNullOrEmpty(_egress.ProxyImage) ? _options.Images[_options.DefaultImage] : _egress.ProxyImage;
            await using var proxy = await egress.OpenAsync(helperId, containerId, proxyImage, config,
                e => LogConnection(logger, helperId, e.Method, e.Host, e.Port, e.Allowed, e.Reason), cts.Token).ConfigureAwait(false);
            var request = run.Request with { Proxy = egress.ProxyUrl, Ca = caPem };
            using var stream = await DockerCall.Run(() => _client.Containers.AttachContainerAsync(containerId,
                new ContainerAttachParameters { Stream = true, Stdin = true, Stdout = true, Stderr = true }, cts.Token)).ConfigureAwait(false);
            await DockerCall.Run(() => _client.Containers.StartContainerAsync(containerId, new ContainerStartParameters(), cts.Token)).ConfigureAwait(false);
            byte[] line = [.. request.Serialize(), (byte)'\n'];
            await stream.WriteAsync(line, 0, line.Length, cts.Token).ConfigureAwait(false);
            stream.CloseWrite();
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(cts.Token).ConfigureAwait(false);
            var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            if (last is null)
            {
                throw new SandboxException(SandboxErrorCodes.GitFailed, "The git helper ended without an answer: "
                    + SafeText.Shorten(stderr.Length > 600 ? stderr[^600..] : stderr, 600));
            }
            using var doc = JsonDocument.Parse(last);
            return doc.RootElement.Clone();
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"git took longer than {run.Timeout.TotalSeconds} s (Sandbox:Git:Timeout).");
        }
        finally
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            if (containerId is not null)
            {
                await backend.RemoveContainerQuietlyAsync(containerId).ConfigureAwait(false);
            }
            try
            {
                await egress.CloseAsync(helperId, null, cleanup.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or DockerApiException or OperationCanceledException)
            {
                LogCleanupFailed(logger, helperId, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Git helper {HelperId}: {Method} {Host}:{Port} allowed={Allowed} {Reason}")]
    private static partial void LogConnection(ILogger logger, string helperId, string method, string host, int port, bool allowed, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Git helper {HelperId}: could not remove its network or proxy: {Error}")]
    private static partial void LogCleanupFailed(ILogger logger, string helperId, string error);
}
