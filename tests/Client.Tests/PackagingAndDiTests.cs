using System.Diagnostics;
using System.IO.Compression;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Testing;

namespace Sandbox.Client.Tests;

[Collection(ServerCollection.Name)]
public sealed class PackagingAndDiTests(ServerFixture server)
{
    [Fact]
    public async Task AddSandboxClient_resolves_working_clients_for_both_transports()
    {
        foreach (var transport in new[] { SandboxTransport.Rest, SandboxTransport.Mcp })
        {
            var services = new ServiceCollection();
            services.AddSandboxClient(o => { o.BaseAddress = server.BaseAddress; o.Transport = transport; });
            await using var provider = services.BuildServiceProvider();
            await using var client = await provider.GetRequiredService<SandboxClientFactory>().CreateAsync();
            Assert.Equal("ok", (await client.GetHealthAsync()).Status);
            await using var session = await client.StartSessionAsync();
            Assert.Equal("3\n", (await session.ExecuteAsync("print(1 + 2)")).Stdout);
        }
        var rest = new ServiceCollection().AddSandboxClient(o => o.BaseAddress = server.BaseAddress).BuildServiceProvider();
        Assert.IsType<SandboxRestClient>(rest.GetRequiredService<ISandboxClient>());
    }

    [Fact]
    public async Task Client_project_packs_into_a_nuget_package()
    {
        var output = Directory.CreateTempSubdirectory("pack-");
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "pack", Path.Combine(RepoPaths.Root, "src", "Client"), "-c", "Release", "-o", output.FullName, "-nologo" })
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await p.WaitForExitAsync(cts.Token);
            Assert.True(p.ExitCode == 0, await stdout + await stderr);
            var package = Assert.Single(output.GetFiles("Sandbox.Client.*.nupkg"));
            using var zip = ZipFile.OpenRead(package.FullName);
            Assert.Contains(zip.Entries, e => e.FullName == "lib/net10.0/Sandbox.Client.dll");
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }
}
