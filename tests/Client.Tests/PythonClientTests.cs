using Sandbox.Testing;

namespace Sandbox.Client.Tests;

/// <summary>The Python client as a user gets it: the wheel built from the repository with Debian's build tools (no
/// index), installed into a fresh virtual environment, and its pytest suite (clients/python/tests) driving this live
/// server. Needs Debian's python3-httpx, python3-pytest and python3-venv (the test command installs them).</summary>
[Collection(ServerCollection.Name)]
public sealed class PythonClientTests(ServerFixture server)
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task The_wheel_builds_installs_into_a_clean_environment_and_its_tests_pass_against_the_server()
    {
        var work = Directory.CreateTempSubdirectory("sandbox-python-client-").FullName;
        try
        {
            var source = Path.Combine(RepoPaths.Root, "clients", "python");
            // A copy, so the build leaves nothing in the repository (setuptools writes build/ and *.egg-info beside the source).
            ClientBuild.CopyTree(source, Path.Combine(work, "src"), skip: ["build", "dist", "__pycache__", ".pytest_cache"]);
            await ClientBuild.RunAsync(Python, ["-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", Path.Combine(work, "dist"), Path.Combine(work, "src")], work);
            var wheel = Directory.GetFiles(Path.Combine(work, "dist"), "sandbox_client-*.whl").Single();
            await ClientBuild.RunAsync(Python, ["-m", "venv", "--system-site-packages", Path.Combine(work, "venv")], work);
            var venvPython = Path.Combine(work, "venv", "bin", "python");
            await ClientBuild.RunAsync(venvPython, ["-m", "pip", "install", "--no-index", "--no-deps", wheel], work);
            // The installed package is the one imported (not the source folder), typed.
            var where = await ClientBuild.RunAsync(venvPython, ["-c", "import sandbox_client, os; print(sandbox_client.__file__); print(os.path.exists(os.path.join(os.path.dirname(sandbox_client.__file__), 'py.typed')))"], work);
            Assert.StartsWith(Path.Combine(work, "venv"), where.Split('\n')[0], StringComparison.Ordinal);
            Assert.Equal("True", where.Split('\n')[1].Trim());
            var output = await ClientBuild.RunAsync(venvPython, ["-m", "pytest", "-q", "-p", "no:cacheprovider", Path.Combine(work, "src", "tests")], work,
                ("SANDBOX_URL", server.BaseAddress.ToString().TrimEnd('/')));
            Assert.Contains("3 passed", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
