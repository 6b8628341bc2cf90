using System.Text.Json;
using Docker.DotNet.Models;
using Sandbox.Egress;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Egress;

/// <summary>A session's allow list against decoy web servers on a network the test creates (no outside host is ever contacted).</summary>
[Collection(EngineCollection.Name)]
public sealed class EgressTests(EngineFixture fixture)
{
    private static string Probe(EgressDecoy decoy, params string[] calls) => string.Join("\n",
        "import socket, ssl, urllib.request, urllib.error",
        $"TEST_CA = '''{decoy.CaPem}'''",
        "tunnel = ssl.create_default_context(cadata=TEST_CA)",
        "def get(name, url, ctx=None, headers=None):",
        "    try:",
        "        r = urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20, context=ctx)",
        "        print(name, 'OK', r.read().decode())",
        "    except urllib.error.HTTPError as e: print(name, 'HTTP', e.code, e.read().decode().strip())",
        "    except Exception as e: print(name, 'ERR', type(e).__name__, e)",
        string.Join("\n", calls));

    private SandboxEngine CreateEngine(EgressDecoy decoy) => fixture.CreateEngine(o =>
    {
        o.Pool.Size = 0;
        o.Egress.Allow = ["*.decoy.test"];
        o.Egress.Network = decoy.Network.Name;
        o.Egress.PermittedAddresses = [decoy.Address + "/32"];
        o.Egress.Hosts = new(StringComparer.OrdinalIgnoreCase) { ["loop.decoy.test"] = "127.0.0.1", ["meta.decoy.test"] = "169.254.169.254" };
        o.Egress.UpstreamCaFile = decoy.CaFile;
        o.Egress.Secrets = new(StringComparer.Ordinal) { ["decoy"] = new EgressSecretOptions { Host = "secret.decoy.test", Header = "Authorization", Value = EgressDecoy.Secret } };
    });

    private static Dictionary<string, string> Lines(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split(' ', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last()[1]);

    [Fact]
    public async Task Allowed_names_answer_over_http_and_https_and_everything_else_is_refused_and_recorded()
    {
        await using var decoy = await EgressDecoy.StartAsync(fixture.CreateEngine().DockerClient(), fixture.CreateEngine().Options.Images["python"]);
        var engine = CreateEngine(decoy);
        var session = await engine.Sessions.CreateAsync(new SessionSpec
        {
            Network = new NetworkRequest { Allow = ["allowed.decoy.test", "inner.decoy.test", "loop.decoy.test", "meta.decoy.test"], Secrets = ["decoy"] },
        }, Owners.Alice, CancellationToken.None);
        try
        {
            Assert.NotNull(session.Network);
            Assert.Equal(["allowed.decoy.test", "inner.decoy.test", "loop.decoy.test", "meta.decoy.test"], session.Network.Allow);
            Assert.Equal(["decoy"], session.Network.Secrets);
            var code = Probe(decoy,
                "get('http', 'http://allowed.decoy.test/x')",
                "get('https', 'https://allowed.decoy.test/y', tunnel)",
                "get('secret', 'https://secret.decoy.test/z', headers={'Authorization': 'Bearer forged'})",
                "get('unlisted', 'http://other.decoy.test/')",
                "get('unlisted_tls', 'https://other.decoy.test/', tunnel)",
                $"get('ip', 'http://{decoy.Address}/')",
                "get('inner', 'http://inner.decoy.test/')",
                "get('loop', 'http://loop.decoy.test/')",
                "get('meta', 'http://meta.decoy.test/')",
                "get('port', 'http://allowed.decoy.test:8081/')",
                "try: print('dns', socket.getaddrinfo('allowed.decoy.test', 80))",
                "except OSError as e: print('dns ERR', e)",
                $"try: socket.create_connection(('{decoy.Address}', 80), timeout=3); print('direct OPEN')",
                "except OSError as e: print('direct ERR', type(e).__name__)");
            var result = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = code, Timeout = TimeSpan.FromSeconds(120), Allow = ["socket"] }, CancellationToken.None);
            var lines = Lines(result.Stdout);
            var all = result.Stdout + result.Stderr;
            Assert.StartsWith("OK ", lines["http"], StringComparison.Ordinal);
            Assert.Contains("\"server\": \"main\"", lines["http"], StringComparison.Ordinal);
            Assert.Contains("\"tls\": true", lines["https"], StringComparison.Ordinal);
            // The secret arrived at the decoy (over TLS to the proxy, which trusts the test CA) in place of the forged one.
            Assert.True(lines["secret"].Contains("\"auth\": \"secret\"", StringComparison.Ordinal), all);
            Assert.Contains("\"tls\": true", lines["secret"], StringComparison.Ordinal);
            Assert.Contains("not on this session's allow list", lines["unlisted"], StringComparison.Ordinal);
            Assert.StartsWith("ERR", lines["unlisted_tls"], StringComparison.Ordinal);
            Assert.Contains("IP addresses are not allowed", lines["ip"], StringComparison.Ordinal);
            Assert.Contains("private or reserved address", lines["inner"], StringComparison.Ordinal);
            Assert.Contains("never reachable", lines["loop"], StringComparison.Ordinal);
            Assert.Contains("never reachable", lines["meta"], StringComparison.Ordinal);
            Assert.Contains("allowed.decoy.test:8081 is not on this session's allow list", lines["port"], StringComparison.Ordinal);
            Assert.StartsWith("ERR", lines["dns"], StringComparison.Ordinal);
            Assert.StartsWith("ERR", lines["direct"], StringComparison.Ordinal);
            Assert.DoesNotContain(EgressDecoy.Secret, all, StringComparison.Ordinal);

            // Every connection is in the history.
            var history = await WaitForHistoryAsync(engine, session.Id, "refused GET meta.decoy.test:80");
            var egress = history.Where(h => h.Kind == "egress").Select(h => h.Output).ToList();
            Assert.Contains("allowed GET allowed.decoy.test:80", egress);
            Assert.Contains("allowed CONNECT allowed.decoy.test:443", egress);
            Assert.Contains("allowed CONNECT secret.decoy.test:443 (secret decoy added)", egress);
            Assert.Contains(egress, e => e!.StartsWith("refused GET other.decoy.test:80", StringComparison.Ordinal));
            Assert.Contains(egress, e => e!.StartsWith("refused CONNECT other.decoy.test:443", StringComparison.Ordinal));
            Assert.Contains(egress, e => e!.StartsWith($"refused GET {decoy.Address}:80", StringComparison.Ordinal));
            Assert.Contains(egress, e => e!.StartsWith("refused GET allowed.decoy.test:8081", StringComparison.Ordinal));
            Assert.All(history, h => Assert.DoesNotContain(EgressDecoy.Secret, JsonSerializer.Serialize(h), StringComparison.Ordinal));

            // The secret is nowhere in the sandbox, nor in what the engine shows of its containers.
            var scan = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
            {
                Language = "bash", Timeout = TimeSpan.FromSeconds(120),
                Code = "k=sk-egress-secret; k=\"$k-5e1f0c93d7\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
                       "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm /run /var/tmp; env | grep -c -i proxy; echo scanned",
            }, CancellationToken.None);
            Assert.True(scan.Stdout.StartsWith("0\n", StringComparison.Ordinal) && scan.Stdout.EndsWith("scanned\n", StringComparison.Ordinal), scan.Stdout + scan.Stderr);
            var docker = engine.DockerClient();
            foreach (var container in new[] { session.Id, "sandbox-egress-proxy-" + session.Id })
            {
                var list = await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true });
                var id = container == session.Id ? list.First(c => c.Labels.TryGetValue("dev.sandbox.session-id", out var s) && s == session.Id && !c.Labels.ContainsKey("dev.sandbox.role")).ID : container;
                var inspect = await docker.Containers.InspectContainerAsync(id);
                Assert.DoesNotContain(EgressDecoy.Secret, JsonSerializer.Serialize(inspect), StringComparison.Ordinal);
            }

            // The list changes while the session runs: the allowed name is closed, the unlisted one opened.
            var updated = await engine.Egress.UpdateAsync(session.Id, Owners.Alice, new NetworkRequest { Allow = ["inner.decoy.test"] }, CancellationToken.None);
            Assert.Equal(["inner.decoy.test"], updated.Network!.Allow);
            var after = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
            {
                Code = "get('http2', 'http://allowed.decoy.test/x')\nget('secret2', 'https://secret.decoy.test/z')", Timeout = TimeSpan.FromSeconds(60),
            }, CancellationToken.None);
            var afterLines = Lines(after.Stdout);
            Assert.Contains("not on this session's allow list", afterLines["http2"], StringComparison.Ordinal);
            Assert.Contains("\"auth\": \"secret\"", afterLines["secret2"], StringComparison.Ordinal); // a secret's host stays allowed
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
        // Nothing of the session's network is left.
        var networks = await engine.DockerClient().Networks.ListNetworksAsync();
        Assert.DoesNotContain(networks, n => n.Name == "sandbox-egress-" + session.Id);
    }

    [Fact]
    public async Task The_operator_ceiling_and_the_secret_names_are_checked_at_create()
    {
        await using var decoy = await EgressDecoy.StartAsync(fixture.CreateEngine().DockerClient(), fixture.CreateEngine().Options.Images["python"]);
        var engine = CreateEngine(decoy);
        var outside = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
            new SessionSpec { Network = new NetworkRequest { Allow = ["pypi.org"] } }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.EgressNotPermitted, outside.Code);
        Assert.Contains("*.decoy.test", outside.Message, StringComparison.Ordinal);
        var ip = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
            new SessionSpec { Network = new NetworkRequest { Allow = ["10.0.0.1"] } }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, ip.Code);
        var secret = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
            new SessionSpec { Network = new NetworkRequest { Allow = [], Secrets = ["nope"] } }, Owners.Alice, CancellationToken.None));
        Assert.Contains("Unknown secret 'nope'", secret.Message, StringComparison.Ordinal);
        var disabled = fixture.CreateEngine(o => o.Pool.Size = 0);
        var off = await Assert.ThrowsAsync<SandboxException>(() => disabled.Sessions.CreateAsync(
            new SessionSpec { Network = new NetworkRequest { Allow = ["a.decoy.test"] } }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.EgressNotPermitted, off.Code);
        Assert.Equal(0, engine.Sessions.Count);
        // A session without a network has no proxy to change.
        var plain = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var change = await Assert.ThrowsAsync<SandboxException>(() => engine.Egress.UpdateAsync(plain.Id, Owners.Alice, new NetworkRequest { Allow = ["a.decoy.test"] }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, change.Code);
        Assert.Null(plain.Network);
        await engine.Sessions.CloseAsync(plain.Id, Owners.Alice, CancellationToken.None);
    }

    private static async Task<IReadOnlyList<Sandbox.Storage.HistoryEntry>> WaitForHistoryAsync(SandboxEngine engine, string sessionId, string prefix)
    {
        for (var i = 0; ; i++)
        {
            var history = await engine.Sessions.GetHistoryAsync(sessionId, Owners.Alice, 1000, CancellationToken.None);
            if (history.Any(h => h.Output?.StartsWith(prefix, StringComparison.Ordinal) == true) || i > 50)
            {
                return history;
            }
            await Task.Delay(100);
        }
    }
}
