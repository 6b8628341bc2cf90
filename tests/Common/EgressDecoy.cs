using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Sandbox.Testing;

/// <summary>
/// Decoy web servers for egress tests, on a network the test creates: one container answering HTTP on 80 and 8081 and
/// HTTPS on 443 (a certificate of a test CA) as <c>allowed.decoy.test</c> and <c>secret.decoy.test</c>, and a second one
/// as <c>inner.decoy.test</c>. They answer with what they saw (path, host, TLS, and whether the expected secret
/// arrived: never the header itself, so the sandbox cannot learn it from the answer).
/// </summary>
public sealed class EgressDecoy : IAsyncDisposable
{
    public const string Secret = "Bearer sk-egress-secret-5e1f0c93d7";
    private const string Script = """
        import json, os, ssl, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        open('/tmp/c.pem', 'w').write(os.environ['DECOY_CERT']); open('/tmp/k.pem', 'w').write(os.environ['DECOY_KEY'])
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == '/mcp':  # no server-sent stream of its own
                    self.send_response(405); self.send_header('content-length', '0'); self.end_headers(); return
                auth = self.headers.get('authorization')
                seen = 'none' if auth is None else 'secret' if auth == os.environ['DECOY_EXPECT'] else 'other'
                body = json.dumps({'path': self.path, 'host': self.headers.get('host'), 'auth': seen,
                                   'tls': hasattr(self.connection, 'cipher'), 'server': os.environ['DECOY_NAME']}).encode()
                self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
            def do_POST(self):
                # A tiny MCP server (Streamable HTTP, JSON answers) at /mcp whose one tool says which Authorization it saw.
                auth = self.headers.get('authorization')
                seen = 'none' if auth is None else 'secret' if auth == os.environ['DECOY_EXPECT'] else 'other'
                msg = json.loads(self.rfile.read(int(self.headers.get('content-length') or 0)) or b'{}')
                if self.path != '/mcp' or 'id' not in msg:
                    self.send_response(202 if self.path == '/mcp' else 404); self.send_header('content-length', '0'); self.end_headers(); return
                method = msg.get('method')
                if method == 'initialize':
                    result = {'protocolVersion': msg['params'].get('protocolVersion', '2025-06-18'), 'capabilities': {'tools': {}},
                              'serverInfo': {'name': 'decoy', 'version': '1'}}
                elif method == 'tools/list':
                    result = {'tools': [{'name': 'whoami', 'description': 'Says which credentials the server saw.',
                                         'inputSchema': {'type': 'object', 'properties': {}}}]}
                elif method == 'tools/call':
                    result = {'content': [{'type': 'text', 'text': 'decoy saw auth=' + seen}]}
                else:
                    result = {}
                body = json.dumps({'jsonrpc': '2.0', 'id': msg['id'], 'result': result}).encode()
                self.send_response(200); self.send_header('content-type', 'application/json'); self.send_header('content-length', str(len(body)))
                self.end_headers(); self.wfile.write(body)
            def log_message(self, *a): pass
        def serve(port, tls):
            s = ThreadingHTTPServer(('0.0.0.0', port), H)
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('/tmp/c.pem', '/tmp/k.pem')
                s.socket = ctx.wrap_socket(s.socket, server_side=True)
            s.serve_forever()
        for p, t in ((80, False), (443, True), (8081, False)):
            threading.Thread(target=serve, args=(p, t), daemon=True).start()
        print('ready', flush=True)
        threading.Event().wait()
        """;

    private readonly IDockerClient _client;
    private readonly List<string> _containers = [];

    private EgressDecoy(IDockerClient client, TestNetwork network, string caPem, string caFile)
    {
        _client = client;
        Network = network;
        CaPem = caPem;
        CaFile = caFile;
    }

    public TestNetwork Network { get; }
    /// <summary>The test CA's certificate (PEM), which signed the decoys' certificates.</summary>
    public string CaPem { get; }
    /// <summary>The same, in a file (for <c>Sandbox:Egress:UpstreamCaFile</c>).</summary>
    public string CaFile { get; }
    /// <summary>Address of the main decoy (the only one the egress options permit).</summary>
    public string Address { get; private set; } = "";
    /// <summary>Address of the second decoy (private, not permitted).</summary>
    public string InnerAddress { get; private set; } = "";

    public static async Task<EgressDecoy> StartAsync(IDockerClient client, string image)
    {
        var network = await TestNetwork.CreateAsync(client, "egress");
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Egress test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(2));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=decoy", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var n in new[] { "allowed.decoy.test", "secret.decoy.test", "inner.decoy.test" })
        {
            names.AddDnsName(n);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(8));
        var caFile = Path.Combine(Path.GetTempPath(), $"egress-test-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem());
        var decoy = new EgressDecoy(client, network, ca.ExportCertificatePem(), caFile);
        decoy.Address = await decoy.RunAsync(image, "main", ["allowed.decoy.test", "secret.decoy.test"], leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
        decoy.InnerAddress = await decoy.RunAsync(image, "inner", ["inner.decoy.test"], leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
        return decoy;
    }

    private async Task<string> RunAsync(string image, string name, List<string> aliases, string cert, string key)
    {
        var created = await _client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = [],
            Cmd = ["python3", "-u", "-c", Script],
            User = "0:0",
            Env = [$"DECOY_CERT={cert}", $"DECOY_KEY={key}", $"DECOY_EXPECT={Secret}", $"DECOY_NAME={name}"],
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
            HostConfig = new HostConfig { NetworkMode = Network.Name, Memory = 128L << 20 },
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings> { [Network.Name] = new EndpointSettings { Aliases = aliases } },
            },
        });
        _containers.Add(created.ID);
        await _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        var inspect = await _client.Containers.InspectContainerAsync(created.ID);
        var address = inspect.NetworkSettings!.Networks![Network.Name].IPAddress;
        // Until it listens (the host reaches a bridge network it created).
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Parse(address), 443);
                break;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(100);
            }
        }
        return address;
    }

    public async ValueTask DisposeAsync()
    {
        await Network.DisposeAsync();
        File.Delete(CaFile);
    }
}
