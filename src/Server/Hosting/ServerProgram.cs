using Microsoft.AspNetCore.HostFiltering;
using Sandbox.Durability;
using Sandbox;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Sandbox.Client.Contracts;
using Sandbox.Server.Api;
using Sandbox.Server.Mcp;
using Serilog;
using Serilog.Events;

namespace Sandbox.Server.Hosting;

/// <summary>Entry point: HTTP mode (REST + MCP Streamable HTTP) or <c>--stdio</c> mode (MCP over stdin/stdout).</summary>
public static class ServerProgram
{
    /// <summary>The default listen address: loopback only.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Runs the server until it is stopped; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.Write(Usage);
            return 0;
        }
        if (args.Contains("--version"))
        {
            Console.Out.WriteLine($"sandbox-server {ContractVersion.ServerVersion}");
            return 0;
        }
        if (args.Contains("--healthcheck"))
        {
            return await HealthCheckAsync(args).ConfigureAwait(false);
        }
        if (args.Contains("--drain") || args.Contains("--undrain"))
        {
            return await DrainAsync(args).ConfigureAwait(false);
        }
        var stdio = args.Contains("--stdio");
        var rest = args.Where(a => a != "--stdio").ToArray();
        try
        {
            if (stdio)
            {
                var host = BuildStdio(rest);
                await host.RunAsync().ConfigureAwait(false);
            }
            else
            {
                var app = BuildHttp(rest);
                await app.RunAsync().ConfigureAwait(false);
            }
            return 0;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync("Invalid configuration:\n  " + string.Join("\n  ", e.Failures)).ConfigureAwait(false);
            return 2;
        }
        catch (SandboxException e)
        {
            // A store that cannot be opened is a clear, final error: exit rather than crash-loop.
            await Console.Error.WriteLineAsync($"Cannot start ({e.Code}): {e.Message}").ConfigureAwait(false);
            return 3;
        }
    }

    /// <summary>
    /// <c>--healthcheck [URL]</c>: asks a running server's <c>/healthz</c> (default <c>http://127.0.0.1:8080/healthz</c>)
    /// and exits 0 when it is healthy, 1 otherwise. For container health checks, where no curl is installed.
    /// </summary>
    private static async Task<int> HealthCheckAsync(string[] args)
    {
        var index = Array.IndexOf(args, "--healthcheck");
        var url = index + 1 < args.Length && !args[index + 1].StartsWith("--", StringComparison.Ordinal) ? args[index + 1] : DefaultUrl + "/healthz";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await http.GetAsync(new Uri(url)).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            await Console.Out.WriteLineAsync(body).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"{url}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary><c>--drain [URL]</c> / <c>--undrain [URL]</c>: tells the server running on this machine (default
    /// <c>http://127.0.0.1:8080</c>) to stop (or resume) taking new sessions of the cluster; its sessions keep working.</summary>
    private static async Task<int> DrainAsync(string[] args)
    {
        var flag = args.Contains("--drain") ? "--drain" : "--undrain";
        var index = Array.IndexOf(args, flag);
        var baseUrl = index + 1 < args.Length && !args[index + 1].StartsWith("--", StringComparison.Ordinal) ? args[index + 1].TrimEnd('/') : DefaultUrl;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            using var response = await http.PostAsync(new Uri(baseUrl + (flag == "--drain" ? "/admin/drain" : "/admin/undrain")), null).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(await response.Content.ReadAsStringAsync().ConfigureAwait(false)).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"{baseUrl}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>
    /// <c>Server:SecretsDirectory</c> (e.g. <c>/run/secrets</c>, where Docker Swarm and Kubernetes mount secrets): every
    /// file in it is a setting named by its file name with <c>__</c> for <c>:</c> (a file
    /// <c>Sandbox__Durability__ConnectionString</c> sets <c>Sandbox:Durability:ConnectionString</c>), so secrets never
    /// sit in environment variables. Files win over every other source.
    /// </summary>
    private static void AddSecretFiles(ConfigurationManager configuration)
    {
        var directory = configuration["Server:SecretsDirectory"];
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }
        if (!Directory.Exists(directory))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Server:SecretsDirectory '{directory}' does not exist.");
        }
        configuration.AddKeyPerFile(directory, optional: false);
    }

    /// <summary>Builds the HTTP host (used by tests through WebApplicationFactory-free in-process start, too).</summary>
    public static WebApplication BuildHttp(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json sits beside the binary, whatever the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        AddSecretFiles(builder.Configuration);
        ConfigureLogging(builder.Services, builder.Configuration, toStderr: false);
        builder.Services.AddSandbox();
        builder.Services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // Previews answer on hosts of their own: AllowedHosts (unless it is "*") takes them in.
        builder.Services.AddOptions<HostFilteringOptions>().PostConfigure<IOptions<ServerOptions>>((hosts, server) =>
        {
            var previews = "*." + server.Value.PreviewDomain;
            if (hosts.AllowedHosts.Count > 0 && !hosts.AllowedHosts.Contains("*") && !hosts.AllowedHosts.Contains(previews, StringComparer.OrdinalIgnoreCase))
            {
                hosts.AllowedHosts = [.. hosts.AllowedHosts, previews];
            }
        });
        builder.Services.AddHttpContextAccessor();
        builder.Services.ConfigureHttpJsonOptions(o => SandboxJson.Apply(o.SerializerOptions));
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<SandboxExceptionHandler>();
        builder.Services.AddOpenApi();
        var maxBody = builder.Configuration.GetSection(ServerOptions.SectionName).Get<ServerOptions>()?.MaxRequestBodyBytes ?? new ServerOptions().MaxRequestBodyBytes;
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = maxBody);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton<NodeClientFactory>();
        builder.Services.AddSingleton<Sandbox.Server.Mcp.ToolCatalog>();
        builder.Services.AddMcpServer(o => o.ServerInfo = new() { Name = "sandbox", Version = ContractVersion.ServerVersion })
            // Stateless on purpose: sandbox sessions live in our store, not in MCP transport sessions, so any request
            // can reach any server process and a transport reconnect loses nothing. We make no server-to-client requests.
            .WithHttpTransport(o => o.Stateless = true)
            .WithSandboxTools();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseSerilogRequestLogging(o =>
        {
            o.GetLevel = (http, _, ex) =>
                ex is not null || http.Response.StatusCode >= 500 ? LogEventLevel.Error : http.Request.Path.StartsWithSegments("/healthz") ? LogEventLevel.Debug : LogEventLevel.Information;
            // A link's token is a credential: the request log shows its path without it.
            o.GetMessageTemplateProperties = (http, path, elapsed, status) =>
            [
                new LogEventProperty("RequestMethod", new ScalarValue(http.Request.Method)),
                new LogEventProperty("RequestPath", new ScalarValue(RedactLinkToken(path))),
                new LogEventProperty("StatusCode", new ScalarValue(status)),
                new LogEventProperty("Elapsed", new ScalarValue(elapsed)),
            ];
        });
        app.UseExceptionHandler();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
        // A preview's host picks its endpoint before routing can pick an API route, the dashboard or /mcp.
        app.UseMiddleware<PreviewHostMiddleware>();
        app.UseRouting();
        app.UseMiddleware<RequestGuardMiddleware>();
        app.UseMiddleware<ClusterForwardingMiddleware>();
        app.MapOpenApi();
        app.UseWhen(http => http.Features.Get<PreviewTarget>() is null, docs => docs.UseSwaggerUI(o =>
        {
            o.SwaggerEndpoint("/openapi/v1.json", "Sandbox API");
            o.RoutePrefix = "docs";
            o.DocumentTitle = "Sandbox API";
        }));
        app.MapSandboxApi();
        app.MapDashboard();
        app.MapMcp("/mcp").WithMetadata(new ClusterAffinity(ClusterAffinityKind.McpCall));
        return app;
    }

    private static IHost BuildStdio(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        // stdout carries the protocol: every log line goes to stderr.
        ConfigureLogging(builder.Services, builder.Configuration, toStderr: true);
        builder.Services.AddSandbox();
        if (string.IsNullOrEmpty(builder.Configuration["Sandbox:Durability:Store"]))
        {
            // A desktop client owns its stdio server's sessions for the life of the process: nothing to resume later.
            builder.Services.PostConfigure<Sandbox.Durability.DurabilityOptions>(o => o.Store = Sandbox.Durability.StoreKind.Memory);
        }
        if (string.IsNullOrEmpty(builder.Configuration["Sandbox:InstanceId"]))
        {
            // Each desktop client starts its own stdio server; a per-process instance keeps them from reaping each other.
            builder.Services.PostConfigure<Sandbox.SandboxOptions>(o => o.InstanceId = $"stdio-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        }
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddMcpServer(o => o.ServerInfo = new() { Name = "sandbox", Version = ContractVersion.ServerVersion })
            .WithStdioServerTransport()
            .WithSandboxTools();
        return builder.Build();
    }

    private static void ConfigureLogging(IServiceCollection services, IConfiguration configuration, bool toStderr)
    {
        services.AddSerilog((sp, lc) =>
        {
            // Sinks registered as services (ILogEventSink) receive every event too, after the console.
            foreach (var sink in sp.GetServices<Serilog.Core.ILogEventSink>())
            {
                lc.WriteTo.Sink(sink);
            }
            lc.MinimumLevel.Information()
              .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
              .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
              .ReadFrom.Configuration(configuration)
              .Enrich.FromLogContext();
            // The console is written by a background thread: a request never waits for a terminal or a pipe (under
            // load, synchronous console writes queued requests behind one another). Nothing is dropped: a full buffer
            // makes writers wait.
            lc.WriteTo.Async(a => a.Console(
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: toStderr ? LogEventLevel.Verbose : null,
                formatProvider: System.Globalization.CultureInfo.InvariantCulture), bufferSize: 10_000, blockWhenFull: true);
        }, preserveStaticLogger: true); // each host logs through its own logger, never the process-wide static one
                                        // (several hosts in one process, as in the tests, otherwise took each other's logs)
    }

    private const string Usage = """
        sandbox-server: run untrusted code and coding agents in containers, over REST and MCP.

        Usage:
          sandbox-server [--urls http://127.0.0.1:8080] [--Section:Key=value ...]   HTTP mode: REST /api, MCP /mcp, /healthz, /docs
          sandbox-server --stdio [--Section:Key=value ...]                         MCP over stdin/stdout (Claude Desktop, Cursor)
          sandbox-server --healthcheck [URL]                                       exit 0 when URL (default http://127.0.0.1:8080/healthz) reports ok
          sandbox-server --drain [URL] | --undrain [URL]                           cluster: this node stops (resumes) taking new sessions
          sandbox-server --help | --version

        Configuration (appsettings.json, environment variables with __ as separator, or --Key=value):
          Sandbox:DefaultLimits:MemoryMb, Sandbox:MaxLimits:*, Sandbox:MaxSessions, Sandbox:IdleTimeout,
          Sandbox:Execution:DefaultTimeout, Sandbox:Safety:Mode (Enforce|Warn|Off), Sandbox:DockerEndpoint,
          Sandbox:Agents:ModelEndpoint, Sandbox:Agents:ApiKey (set it in the environment: Sandbox__Agents__ApiKey),
          Sandbox:Agents:EgressNetwork, Server:AuthToken, Server:ApiKeys, Server:AllowedOrigins, Server:MaxRequestBodyBytes
          See README.md for every option and its default.

        """;

    /// <summary><c>/links/TOKEN/path</c> as <c>/links/…/path</c> (and <c>/volume-links/</c> the same).</summary>
    internal static string RedactLinkToken(string path)
    {
        foreach (var prefix in new[] { "/links/", "/volume-links/" })
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                var rest = path.IndexOf('/', prefix.Length);
                return prefix + "…" + (rest < 0 ? "" : path[rest..]);
            }
        }
        return path;
    }
}
