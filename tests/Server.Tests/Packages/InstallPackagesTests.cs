using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Packages;

/// <summary>A server with a package policy, an offline Python index (a wheel directory) and its own cache volume.</summary>
public sealed class PackagesServerFixture : ServerFixture
{
    public string WheelDirectory { get; } = Directory.CreateTempSubdirectory("sandbox-test-wheels-").FullName;

    public string CacheVolume { get; } = "sandbox-package-cache-test-" + Guid.NewGuid().ToString("N")[..10];

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        $"--Sandbox:Packages:WheelDirectory={WheelDirectory}",
        "--Sandbox:Packages:PipIndexUrl=",
        $"--Sandbox:Packages:CacheVolume={CacheVolume}",
        "--Sandbox:Packages:Deny:0=npm:left-pad",
        "--Sandbox:Packages:Deny:1=pip:sbxdenied",
        "--Sandbox:Packages:NpmPins:is-number=7.0.0",
    ];

    public override async Task InitializeAsync()
    {
        WriteWheel(WheelDirectory, "sbxdemo", "1.0.0", "def hello():\n    return 'hello from a wheel'\n");
        // PyYAML for auto_install, made from the test machine's Debian python3-yaml (its pure-Python half: PyYAML runs
        // without its C extension), since no package index is reachable here.
        const string yaml = "/usr/lib/python3/dist-packages/yaml";
        if (!Directory.Exists(yaml))
        {
            throw new InvalidOperationException($"{yaml} is missing: install python3-yaml (deploy/test.sh does).");
        }
        WriteWheel(WheelDirectory, "PyYAML", "6.0", Directory.GetFiles(yaml, "*.py").ToDictionary(f => "yaml/" + Path.GetFileName(f), File.ReadAllBytes));
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        using var backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        await backend.Client.Volumes.RemoveAsync(CacheVolume, true);
        Directory.Delete(WheelDirectory, recursive: true);
    }

    /// <summary>A pure-Python wheel built by hand (a wheel is a zip with a dist-info directory), as a test would build its own.</summary>
    public static void WriteWheel(string directory, string name, string version, string code) =>
        WriteWheel(directory, name, version, new Dictionary<string, byte[]> { [$"{name}/__init__.py"] = Encoding.UTF8.GetBytes(code) });

    /// <summary>A pure-Python wheel of <paramref name="modules"/> (path in the wheel to contents).</summary>
    public static void WriteWheel(string directory, string name, string version, Dictionary<string, byte[]> modules)
    {
        var files = new Dictionary<string, byte[]>(modules)
        {
            [$"{name}-{version}.dist-info/METADATA"] = Encoding.UTF8.GetBytes($"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
            [$"{name}-{version}.dist-info/WHEEL"] = Encoding.UTF8.GetBytes("Wheel-Version: 1.0\nGenerator: sandbox-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        };
        var record = new StringBuilder();
        foreach (var (path, bytes) in files)
        {
            var hash = Convert.ToBase64String(SHA256.HashData(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            record.Append(System.Globalization.CultureInfo.InvariantCulture, $"{path},sha256={hash},{bytes.Length}\n");
        }
        record.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}-{version}.dist-info/RECORD,,\n");
        files[$"{name}-{version}.dist-info/RECORD"] = Encoding.UTF8.GetBytes(record.ToString());
        using var zip = ZipFile.Open(Path.Combine(directory, $"{name}-{version}-py3-none-any.whl"), ZipArchiveMode.Create);
        foreach (var (path, bytes) in files)
        {
            using var s = zip.CreateEntry(path).Open();
            s.Write(bytes);
        }
    }
}

public sealed class InstallPackagesTests(PackagesServerFixture server) : IClassFixture<PackagesServerFixture>
{
    [Fact]
    public async Task Npm_package_is_installed_from_the_registry_and_required_while_the_session_stays_offline()
    {
        await using var client = await server.CreateMcpClientAsync();
        var id = (await client.CallOkAsync("create_session", new() { ["image"] = "agent" })).GetProperty("session_id").GetString()!;
        var first = await client.CallOkAsync("install_packages", new() { ["session_id"] = id, ["packages"] = new[] { "is-number" }, ["manager"] = "npm" });
        var installed = first.GetProperty("result").Deserialize<PackageInstallResultDto>(SandboxJson.Options)!;
        Assert.Equal("node_modules", installed.Location);
        var pkg = Assert.Single(installed.Installed);
        Assert.Equal(("is-number", "7.0.0"), (pkg.Name, pkg.Version)); // the server's pin applies to a bare name

        var run = await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["language"] = "node",
            ["code"] = "const isNumber = require('is-number'); console.log(isNumber(42), isNumber('x'), require('is-number/package.json').version)",
        });
        Assert.Equal("true false 7.0.0\n", run.GetProperty("stdout").GetString());

        // The session itself still has no network: only loopback, and a listener on a network this test created is unreachable.
        await using var network = await TestNetwork.CreateAsync(server.App.Services.GetRequiredService<SandboxEngine>().DockerClient(), "pkgs");
        var decoy = await network.StartDecoyAsync("sandbox-python:latest");
        var probe = await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["language"] = "node",
            ["code"] = "const fs = require('fs'); console.log(fs.readFileSync('/proc/net/dev', 'utf8').split('\\n').slice(2).filter(l => l.trim()).map(l => l.split(':')[0].trim()).join(','));\n"
                + $"const s = require('net').connect({decoy.Port}, '{decoy.Address}'); s.setTimeout(3000); s.on('connect', () => {{ console.log('OPEN'); s.destroy(); }}); s.on('error', e => console.log('blocked', e.code)); s.on('timeout', () => {{ console.log('blocked timeout'); s.destroy(); }});",
        });
        Assert.StartsWith("lo\nblocked", probe.GetProperty("stdout").GetString());

        // Again: from the shared cache, no fetch from the registry.
        var again = (await client.CallOkAsync("install_packages", new() { ["session_id"] = id, ["packages"] = new[] { "is-number@7.0.0" }, ["manager"] = "npm" }))
            .GetProperty("result").Deserialize<PackageInstallResultDto>(SandboxJson.Options)!;
        Assert.True(Assert.Single(again.Installed).Cached);
        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
    }

    [Fact]
    public async Task A_locally_built_wheel_is_installed_and_imported_by_the_running_interpreter()
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var before = await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute", new { code = "kept = 'state'\ntry:\n    import sbxdemo\nexcept ImportError as e:\n    print('missing', e.name)" });
        Assert.Contains("missing sbxdemo", await before.Content.ReadAsStringAsync());
        var install = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/packages", new { manager = "pip", packages = new[] { "sbxdemo==1.0.0" } });
        var text = await install.Content.ReadAsStringAsync();
        Assert.True(install.IsSuccessStatusCode, text);
        var result = JsonSerializer.Deserialize<PackageInstallResultDto>(text, SandboxJson.Options)!;
        Assert.Equal(".packages/python", result.Location);
        Assert.Equal(("sbxdemo", "1.0.0", "pip"), (result.Installed[0].Name, result.Installed[0].Version, result.Installed[0].Manager));
        // The same interpreter (its variables intact) imports it now; so does a new process.
        var after = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "import sbxdemo\nprint(sbxdemo.hello(), kept)" });
        Assert.Contains("\"stdout\":\"hello from a wheel state\\n\"", await after.Content.ReadAsStringAsync());
        var bash = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { language = "bash", code = "python3 -c 'import sbxdemo; print(sbxdemo.__file__)'" });
        Assert.Contains("/workspace/.packages/python/sbxdemo/__init__.py", await bash.Content.ReadAsStringAsync());
        var history = await http.GetStringAsync($"/api/sessions/{session.Id}/history");
        Assert.Contains("\"kind\":\"install\"", history);
        Assert.Contains("sbxdemo 1.0.0", history);
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Denied_pinned_unknown_and_malformed_packages_are_clear_errors_and_install_nothing()
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { image = "agent" })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        async Task<(HttpStatusCode Status, string Body)> Install(string manager, params string[] packages)
        {
            var r = await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/packages", new { manager, packages });
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        var denied = await Install("npm", "left-pad");
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
        Assert.Contains("left-pad (not allowed on this server)", denied.Body);
        var pinned = await Install("npm", "is-number@6.0.0");
        Assert.Equal(HttpStatusCode.Forbidden, pinned.Status);
        Assert.Contains("pins is-number to 7.0.0", pinned.Body);
        var unknown = await Install("npm", "is-number", "sbx-no-such-package-3f9a1c");
        Assert.Equal((HttpStatusCode)422, unknown.Status);
        Assert.Contains("package_unavailable", unknown.Body);
        Assert.Contains("unknown package", unknown.Body);
        var noWheel = await Install("pip", "sbx-no-such-wheel");
        Assert.Contains("package_unavailable", noWheel.Body);
        var malformed = await Install("npm", "lodash@^4");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Contains("exact versions only", malformed.Body);
        var manager = await Install("cargo", "serde");
        Assert.Contains("Use 'pip' or 'npm'", manager.Body);
        // All or nothing: is-number was fine in the failed call but was not installed.
        var ls = await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute", new { language = "bash", code = "test -e node_modules && echo present || echo absent" });
        Assert.Contains("\"stdout\":\"absent\\n\"", await ls.Content.ReadAsStringAsync());
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Auto_install_brings_what_code_imports_refuses_denied_names_and_skips_ignored_ones()
    {
        using var http = server.CreateHttpClient();
        var python = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var node = (await (await http.PostAsJsonAsync("/api/sessions", new { image = "agent" })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        async Task<HttpResponseMessage> Run(string id, object body) => await http.PostAsJsonAsync($"/api/sessions/{id}/execute", body);
        try
        {
            const string code = "import yaml\nprint(yaml.safe_dump({'a': 1}))";
            var without = (await (await Run(python.Id, new { code })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
            Assert.Equal("ModuleNotFoundError", without.Error?.Type);

            var with = (await (await Run(python.Id, new { code, auto_install = true })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
            Assert.Equal(("a: 1\n\n", null), (with.Stdout, with.Error));
            var installed = Assert.Single(with.AutoInstalled);
            Assert.Equal(("PyYAML", "6.0", "pip"), (installed.Name, installed.Version, installed.Manager));
            // Present now: nothing more to install.
            Assert.Empty((await (await Run(python.Id, new { code, auto_install = true })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.AutoInstalled);

            var denied = await Run(python.Id, new { code = "import sbxdenied", auto_install = true });
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
            Assert.Contains("sbxdenied", await denied.Content.ReadAsStringAsync());

            var ignored = (await (await Run(python.Id, new { code = "import json, sbxdenied", auto_install = true, auto_install_ignore = new[] { "sbxdenied" } }))
                .Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
            Assert.Equal(("ModuleNotFoundError", 0), (ignored.Error?.Type, ignored.AutoInstalled.Count));

            // Node: require() of a package from the npm registry; Node's own modules and what the image's Node finds
            // already (Debian's is-number) are left alone.
            var js = (await (await Run(node.Id, new
                {
                    code = "const isOdd = require('is-odd'); require('is-number'); console.log(isOdd(5), require('node:fs') !== null)", language = "node", auto_install = true,
                }))
                .Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
            Assert.Equal("true true\n", js.Stdout);
            Assert.Equal(("is-odd", "npm"), Assert.Single(js.AutoInstalled) is var p ? (p.Name, p.Manager) : default);
            var leftPad = await Run(node.Id, new { code = "require('left-pad')", language = "node", auto_install = true });
            Assert.Equal(HttpStatusCode.Forbidden, leftPad.StatusCode);
        }
        finally
        {
            await http.DeleteAsync($"/api/sessions/{python.Id}");
            await http.DeleteAsync($"/api/sessions/{node.Id}");
        }
    }
}
