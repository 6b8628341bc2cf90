using Sandbox.Testing;

namespace Sandbox.Client.Tests;

/// <summary>The TypeScript client as a user gets it: built with tsc from the repository, packed with npm, the tarball
/// installed into a clean project, and its Node test-runner suite (clients/typescript/test) driving this live server.</summary>
[Collection(ServerCollection.Name)]
public sealed class TypeScriptClientTests(ServerFixture server)
{
    [Fact]
    public async Task The_package_builds_packs_installs_into_a_clean_project_and_its_tests_pass_against_the_server()
    {
        var work = Directory.CreateTempSubdirectory("sandbox-ts-client-").FullName;
        try
        {
            var source = Path.Combine(work, "src");
            ClientBuild.CopyTree(Path.Combine(RepoPaths.Root, "clients", "typescript"), source, skip: ["node_modules", "dist"]);
            await ClientBuild.RunAsync("npm", ["ci", "--no-audit", "--no-fund"], source);
            await ClientBuild.RunAsync("npm", ["run", "build"], source);
            await ClientBuild.RunAsync("npm", ["pack", "--pack-destination", work], source);
            var tarball = Directory.GetFiles(work, "sandbox-client-*.tgz").Single();

            var project = Path.Combine(work, "project");
            Directory.CreateDirectory(project);
            await File.WriteAllTextAsync(Path.Combine(project, "package.json"), """{"name": "uses-sandbox-client", "version": "1.0.0", "type": "module"}""");
            await ClientBuild.RunAsync("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], project);
            Assert.True(File.Exists(Path.Combine(project, "node_modules", "sandbox-client", "dist", "index.d.ts")), "the package carries its types");
            File.Copy(Path.Combine(source, "test", "client.test.mjs"), Path.Combine(project, "client.test.mjs"));
            var output = await ClientBuild.RunAsync("node", ["--test", "client.test.mjs"], project, ("SANDBOX_URL", server.BaseAddress.ToString().TrimEnd('/')));
            Assert.Contains("# pass 2", output, StringComparison.Ordinal);
            Assert.Contains("# fail 0", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
