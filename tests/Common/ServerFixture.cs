using Sandbox.Backend;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using Sandbox.Sessions;
using Sandbox.Server.Hosting;

namespace Sandbox.Testing;

/// <summary>A real server process-in-process on a loopback port, against the real engine. Fails loudly without an engine.</summary>
public class ServerFixture : IAsyncLifetime
{
    public const string Token = "test-token-0123456789abcdef";
    public const string OtherToken = "other-token-0123456789abcdef";

    private WebApplication? _app;

    public string InstanceId { get; } = "srvtest-" + Guid.NewGuid().ToString("N")[..10];

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>This server's own store directory (removed on dispose).</summary>
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("sandbox-test-data-").FullName;

    public WebApplication App => _app ?? throw new InvalidOperationException("not started");

    protected virtual IEnumerable<string> ExtraArgs => [];

    /// <summary>Extra service registrations for this server (before it is built).</summary>
    protected virtual void Configure(WebApplicationBuilder builder)
    {
    }

    /// <summary>Whether this server requires bearer tokens.</summary>
    public virtual bool RequiresToken => false;

    /// <summary>Environment variables the server reads while it starts (credentials, as in production), removed again
    /// once it runs. The environment is the whole process's: a server another test starts meanwhile sees them too, so
    /// each set must be complete and valid on its own.</summary>
    protected virtual IReadOnlyDictionary<string, string> StartEnvironment => new Dictionary<string, string>();

    public virtual async Task InitializeAsync()
    {
        var environment = StartEnvironment;
        foreach (var (name, value) in environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        try
        {
            await StartAsync();
        }
        finally
        {
            foreach (var name in environment.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    private async Task StartAsync()
    {
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            $"--Sandbox:InstanceId={InstanceId}",
            $"--Sandbox:Durability:DataDirectory={DataDirectory}",
            "--Serilog:MinimumLevel:Default=Warning",
            "--Server:MaxRequestBodyBytes=2000000",
            .. ExtraArgs,
        ];
        _app = ServerProgram.BuildHttp(args, Configure);
        await _app.StartAsync();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>();
        BaseAddress = new Uri(addresses.Addresses.First());
        var health = await _app.Services.GetRequiredService<SandboxEngine>().Sessions.GetHealthAsync(CancellationToken.None);
        if (!health.Healthy)
        {
            throw new InvalidOperationException($"The engine or images are not ready: {health}. Run deploy/test.sh, which prepares them.");
        }
    }

    public HttpClient CreateHttpClient(string? token = null)
    {
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        token ??= RequiresToken ? Token : null;
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return http;
    }

    public Task<McpClient> CreateMcpClientAsync(string? token = null, TimeSpan? requestTimeout = null)
    {
        token ??= RequiresToken ? Token : null;
        var options = new HttpClientTransportOptions
        {
            Endpoint = new Uri(BaseAddress, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = token is null ? null : new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        };
        return requestTimeout is { } limit
            ? McpClient.CreateAsync(new HttpClientTransport(options, new HttpClient { Timeout = limit }, ownsHttpClient: true))
            : McpClient.CreateAsync(new HttpClientTransport(options));
    }

    public virtual async Task DisposeAsync()
    {
        if (_app is not null)
        {
            var engine = _app.Services.GetRequiredService<SandboxEngine>();
            foreach (var s in engine.Sessions.ListAll())
            {
                try
                {
                    await engine.Sessions.CloseAsync(s.Id, s.Owner, CancellationToken.None);
                }
                catch (SandboxException)
                {
                }
            }
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        await SweepAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }

    /// <summary>Removes whatever this test server's instance left on the engine (for example containers that died with
    /// a stopped engine and could not be removed then), and says so: a test run must leave nothing behind.</summary>
    private async Task SweepAsync()
    {
        using var backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions { InstanceId = InstanceId }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={InstanceId}"] = true } };
        foreach (var c in await backend.Client.Containers.ListContainersAsync(new global::Docker.DotNet.Models.ContainersListParameters { All = true, Filters = filter }))
        {
            Console.Error.WriteLine($"[fixture] removing leftover container {c.Names.FirstOrDefault()} ({c.State})");
            await backend.Client.Containers.RemoveContainerAsync(c.ID, new global::Docker.DotNet.Models.ContainerRemoveParameters { Force = true, RemoveVolumes = true });
        }
        var volumes = await backend.Client.Volumes.ListAsync(new global::Docker.DotNet.Models.VolumesListParameters { Filters = filter });
        foreach (var v in volumes.Volumes ?? [])
        {
            await backend.Client.Volumes.RemoveAsync(v.Name, true);
        }
    }
}

/// <summary>A server with two callers configured by token.</summary>
public sealed class AuthServerFixture : ServerFixture
{
    public override bool RequiresToken => true;

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Server:ApiKeys:0:Name=alice", $"--Server:ApiKeys:0:Token={Token}",
        "--Server:ApiKeys:1:Name=bob", $"--Server:ApiKeys:1:Token={OtherToken}",
    ];
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>, ICollectionFixture<AuthServerFixture>
{
    public const string Name = "server";
}
