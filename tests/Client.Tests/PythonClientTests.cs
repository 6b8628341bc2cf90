using System.Diagnostics;
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
            CopyTree(source, Path.Combine(work, "src"), skip: ["build", "dist", "__pycache__", ".pytest_cache"]);
            await RunAsync(Python, ["-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", Path.Combine(work, "dist"), Path.Combine(work, "src")], work);
            var wheel = Directory.GetFiles(Path.Combine(work, "dist"), "sandbox_client-*.whl").Single();
            await RunAsync(Python, ["-m", "venv", "--system-site-packages", Path.Combine(work, "venv")], work);
            var venvPython = Path.Combine(work, "venv", "bin", "python");
            await RunAsync(venvPython, ["-m", "pip", "install", "--no-index", "--no-deps", wheel], work);
            // The installed package is the one imported (not the source folder), typed.
            var where = await RunAsync(venvPython, ["-c", "import sandbox_client, os; print(sandbox_client.__file__); print(os.path.exists(os.path.join(os.path.dirname(sandbox_client.__file__), 'py.typed')))"], work);
            Assert.StartsWith(Path.Combine(work, "venv"), where.Split('\n')[0], StringComparison.Ordinal);
            Assert.Equal("True", where.Split('\n')[1].Trim());
            var output = await RunAsync(venvPython, ["-m", "pytest", "-q", "-p", "no:cacheprovider", Path.Combine(work, "src", "tests")], work,
                ("SANDBOX_URL", server.BaseAddress.ToString().TrimEnd('/')));
            Assert.Contains("2 passed", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static void CopyTree(string from, string to, string[] skip)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (var dir in Directory.GetDirectories(from).Where(d => !skip.Contains(Path.GetFileName(d)) && !Path.GetFileName(d).EndsWith(".egg-info", StringComparison.Ordinal)))
        {
            CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)), skip);
        }
    }

    /// <summary>Runs a program to its end (at most 5 minutes); a non-zero exit fails the test with all it printed.</summary>
    private static async Task<string> RunAsync(string file, IReadOnlyList<string> args, string directory, params (string Name, string Value)[] env)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }
        start.Environment["PIP_NO_INPUT"] = "1";
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        var text = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}:\n{text}");
        return await stdout;
    }
}
