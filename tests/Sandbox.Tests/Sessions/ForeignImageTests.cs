using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Isolation;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Sessions;

/// <summary>Sessions from an image named by reference (Sandbox:ImagePatterns): an image with Node.js and no Python,
/// built by deploy/build-images.sh test, runs the runner on its own runtime in both tiers.</summary>
[Collection(EngineCollection.Name)]
public sealed class ForeignImageTests(EngineFixture fixture)
{
    private const string Image = "sandbox-test-node:latest";

    [Fact]
    public async Task An_allowed_image_without_python_runs_node_bash_and_files_and_refuses_python_clearly()
    {
        var engine = fixture.CreateEngine(o => o.Engine.ImagePatterns.Add("sandbox-test-node:*"));
        foreach (var refused in new[] { "sandbox-test-other:latest", "sandbox-test-node:latest; rm -rf /", "../sandbox-test-node:latest" })
        {
            var e = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Image = refused }, Owners.Alice, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.ImageNotFound, e.Code);
            Assert.Contains("sandbox-test-node:*", e.Message);
        }
        foreach (var tier in new[] { IsolationTier.Gvisor, IsolationTier.Container })
        {
            var s = await engine.Sessions.CreateAsync(new SessionSpec { Image = Image, Isolation = tier }, Owners.Alice, CancellationToken.None);
            try
            {
                Assert.Equal(Image, s.Image);
                async Task<ExecutionResult> Run(string language, string code, bool fresh = false) =>
                    await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Language = language, Code = code, Fresh = fresh }, CancellationToken.None);
                Assert.Equal("42\n", (await Run("node", "console.log(6 * 7)")).Stdout);
                Assert.Equal("hi none\n", (await Run("bash", "echo hi $(command -v python3 || echo none)")).Stdout);
                foreach (var fresh in new[] { false, true })
                {
                    var python = await Assert.ThrowsAsync<SandboxException>(() => Run("python", "print(1)", fresh));
                    Assert.Equal(SandboxErrorCodes.InvalidArgument, python.Code);
                    Assert.Contains("has no python3", python.Message);
                }
                // The runner's own work (files) is unaffected, and the session still answers after the refusals.
                using (var content = new MemoryStream("hello"u8.ToArray()))
                {
                    await engine.Files.UploadAsync(s.Id, Owners.Alice, "a.txt", content, CancellationToken.None);
                }
                Assert.Equal("hello", (await Run("node", "process.stdout.write(require('fs').readFileSync('a.txt', 'utf8'))")).Stdout);
                Assert.Equal("hello"u8.ToArray(), (await engine.Files.DownloadAsync(s.Id, Owners.Alice, "a.txt", CancellationToken.None)).Content);
            }
            finally
            {
                await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
            }
        }
    }
}
