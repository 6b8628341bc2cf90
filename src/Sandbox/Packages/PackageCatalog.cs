using System.Collections.Concurrent;
using System.Text.Json;
using Sandbox.Backend;
using Sandbox.Execution;
using Sandbox.Sessions;

namespace Sandbox.Packages;

/// <summary>What an image has installed: Python distributions and the command-line tools it carries, computed once per
/// image id in a throw-away sandbox.</summary>
public sealed class PackageCatalog(SandboxLauncher launcher, ISandboxBackend backend)
{
    // Python distributions plus the command-line tools an image may carry (agent CLIs, runtimes), with their versions.
    private const string ListPackagesScript =
        "import importlib.metadata as m, json, sys, shutil, subprocess\n" +
        "d = sorted({(x.metadata['Name'] or '?', x.version) for x in m.distributions()})\n" +
        "tools = {}\n" +
        "for name in ['claude', 'codex', 'node', 'npm', 'git', 'bash']:\n" +
        "    if shutil.which(name):\n" +
        "        try:\n" +
        "            out = subprocess.run([name, '--version'], capture_output=True, text=True, timeout=20).stdout.strip().splitlines()\n" +
        "            tools[name] = out[0] if out else '?'\n" +
        "        except Exception as e:\n" +
        "            tools[name] = '?'\n" +
        "print(json.dumps({'python': sys.version.split()[0], 'packages': d, 'tools': tools}))";

    private readonly ConcurrentDictionary<string, ImagePackages> _cache = new(StringComparer.Ordinal);

    /// <summary>Packages installed in an image (the default image when <paramref name="image"/> is null).</summary>
    public async Task<ImagePackages> GetAsync(string? image, CancellationToken ct)
    {
        var (name, reference) = launcher.ResolveImage(image);
        var status = await backend.GetImageStatusAsync(name, reference, ct).ConfigureAwait(false);
        if (!status.Present || status.Id is null)
        {
            throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"Image '{reference}' is not built on this engine. Run deploy/build-images.sh.");
        }
        if (_cache.TryGetValue(status.Id, out var cached))
        {
            return cached;
        }
        var stdout = await backend.RunOneShotAsync(reference, ["python3", "-I", "-c", ListPackagesScript], TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        var packages = new List<PackageInfo>();
        using (var doc = JsonDocument.Parse(stdout))
        {
            packages.Add(new PackageInfo("python", doc.RootElement.GetProperty("python").GetString() ?? "?", "system"));
            foreach (var pair in doc.RootElement.GetProperty("packages").EnumerateArray())
            {
                packages.Add(new PackageInfo(pair[0].GetString() ?? "?", pair[1].GetString() ?? "?", "python"));
            }
            if (doc.RootElement.TryGetProperty("tools", out var tools))
            {
                foreach (var tool in tools.EnumerateObject())
                {
                    packages.Add(new PackageInfo(tool.Name, tool.Value.GetString() ?? "?", "tool"));
                }
            }
        }
        var result = new ImagePackages(name, reference, ExecutionService.Languages, packages);
        _cache[status.Id] = result;
        return result;
    }
}
