using System.Collections.Concurrent;
using System.Text.Json;
using Sandbox.Docker;

namespace Sandbox.Sessions;

/// <summary>An installed package of an image.</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Installed version.</param>
/// <param name="Manager">Where it comes from: <c>python</c> (importable distribution), <c>tool</c> (a command such as
/// <c>claude</c> or <c>node</c>, version as it reports it) or <c>system</c>.</param>
public sealed record PackageInfo(string Name, string Version, string Manager);

/// <summary>What an image offers.</summary>
/// <param name="Image">Image short name.</param>
/// <param name="Reference">Image reference.</param>
/// <param name="Languages">Languages execute accepts for it.</param>
/// <param name="Packages">Installed packages.</param>
public sealed record ImagePackages(string Image, string Reference, IReadOnlyList<string> Languages, IReadOnlyList<PackageInfo> Packages);

public sealed partial class SessionManager
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

    private readonly ConcurrentDictionary<string, ImagePackages> _packageCache = new(StringComparer.Ordinal);

    /// <summary>Packages installed in an image (cached per image id; computed in a throw-away sandbox).</summary>
    public async Task<ImagePackages> GetPackagesAsync(string? image, CancellationToken ct)
    {
        var (name, reference) = ResolveImage(image);
        var status = await _backend.GetImageStatusAsync(name, reference, ct).ConfigureAwait(false);
        if (!status.Present || status.Id is null)
        {
            throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"Image '{reference}' is not built on this engine. Run deploy/build-images.sh.");
        }
        if (_packageCache.TryGetValue(status.Id, out var cached))
        {
            return cached;
        }
        var stdout = await _backend.RunOneShotAsync(reference, ["python3", "-I", "-c", ListPackagesScript], TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
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
        var result = new ImagePackages(name, reference, Languages, packages);
        _packageCache[status.Id] = result;
        return result;
    }
}
