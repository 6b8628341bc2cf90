using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Tests.Common;

/// <summary>A server of one instance on a data directory of its own, started and stopped by the test (restart tests
/// start a second one on the same directory).</summary>
public static class DurableServer
{
    /// <summary>Starts the server on a free loopback port (no warm pool, warnings only), with <paramref name="extra"/>
    /// arguments, and a client for it.</summary>
    public static async Task<(WebApplication App, HttpClient Http)> StartAsync(string instance, string dataDirectory, params string[] extra)
    {
        var app = ServerProgram.BuildHttp(["--urls", "http://127.0.0.1:0", $"--Sandbox:InstanceId={instance}", $"--Sandbox:Durability:DataDirectory={dataDirectory}",
            "--Sandbox:Pool:Size=0", "--Serilog:MinimumLevel:Default=Warning", .. extra]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(5) });
    }
}
