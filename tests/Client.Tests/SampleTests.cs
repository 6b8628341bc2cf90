using System.Diagnostics;
using Sandbox.Testing;

namespace Sandbox.Client.Tests;

[Collection(ServerCollection.Name)]
public sealed class SampleTests(ServerFixture server)
{
    [Theory]
    [InlineData("rest")]
    [InlineData("mcp")]
    public async Task Sample_runs_against_a_live_server(string transport)
    {
        var dll = RepoPaths.BuiltDll(Path.Combine("samples", "Sandbox.Client.Sample"), "Sandbox.Client.Sample.dll");
        var output = Directory.CreateTempSubdirectory("sample-");
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { dll, server.BaseAddress.ToString(), output.FullName, transport })
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await p.WaitForExitAsync(cts.Token);
            Assert.True(p.ExitCode == 0, await stderr);
            var text = await stdout;
            Assert.Contains("mean", text);
            Assert.Contains("31", text);
            var png = await File.ReadAllBytesAsync(Path.Combine(output.FullName, "units.png"));
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }
}
