using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Sandbox.Testing;

/// <summary>
/// A git server for tests, on a network the test creates: Debian's <c>git http-backend</c> behind a small Python HTTP
/// server in a container, as <c>git.decoy.test</c>. It serves <c>public.git</c> (anyone may read) and
/// <c>private.git</c> (reads and every push need HTTP basic authentication as <see cref="User"/>/<see cref="Token"/>).
/// Each repository has <c>main</c> (two commits), <c>dev</c> (one more) and the tag <c>v1</c>.
/// </summary>
public sealed class GitServer : IAsyncDisposable
{
    public const string Host = "git.decoy.test";
    public const string User = "alice";
    public const string Token = "ghp-test-token-8d2f6a41c9e7";

    private const string Script = """
        import base64, os, subprocess
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        ROOT = '/srv/git'
        EXPECT = 'Basic ' + base64.b64encode((os.environ['GIT_USER'] + ':' + os.environ['GIT_TOKEN']).encode()).decode()
        env = dict(os.environ, HOME='/tmp', GIT_AUTHOR_NAME='Maintainer', GIT_AUTHOR_EMAIL='m@example.test',
                   GIT_COMMITTER_NAME='Maintainer', GIT_COMMITTER_EMAIL='m@example.test')
        def git(*a, cwd=None):
            subprocess.run(['git', *a], cwd=cwd, env=env, check=True, capture_output=True)
        os.makedirs(ROOT, exist_ok=True)
        for name in ('public', 'private'):
            w = '/tmp/seed-' + name
            git('init', '-q', '-b', 'main', w)
            open(w + '/README.md', 'w').write('# %s project\n' % name)
            open(w + '/app.py', 'w').write('def add(a, b):\n    return a + b\n')
            git('add', '-A', cwd=w); git('commit', '-q', '-m', 'Initial commit', cwd=w); git('tag', 'v1', cwd=w)
            git('checkout', '-q', '-b', 'dev', cwd=w)
            open(w + '/dev.txt', 'w').write('dev work\n')
            git('add', '-A', cwd=w); git('commit', '-q', '-m', 'Dev commit', cwd=w)
            git('checkout', '-q', 'main', cwd=w)
            open(w + '/README.md', 'a').write('More words.\n')
            git('commit', '-q', '-am', 'Second commit', cwd=w)
            git('clone', '-q', '--bare', w, ROOT + '/' + name + '.git')
            git('config', 'http.receivepack', 'true', cwd=ROOT + '/' + name + '.git')
        class H(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def body(self):
                if 'chunked' in (self.headers.get('transfer-encoding') or '').lower():
                    out = b''
                    while True:
                        n = int(self.rfile.readline().split(b';')[0].strip(), 16)
                        if n == 0:
                            self.rfile.readline(); return out
                        out += self.rfile.read(n); self.rfile.readline()
                return self.rfile.read(int(self.headers.get('content-length') or 0))
            def handle_git(self):
                data = self.body()
                path, _, query = self.path.partition('?')
                push = 'git-receive-pack' in path or 'service=git-receive-pack' in query
                authed = self.headers.get('authorization') == EXPECT
                if (path.startswith('/private.git') or push) and not authed:
                    self.send_response(401); self.send_header('WWW-Authenticate', 'Basic realm="git"')
                    self.send_header('content-length', '0'); self.end_headers(); return
                cgi = {'PATH': os.environ['PATH'], 'GIT_PROJECT_ROOT': ROOT, 'GIT_HTTP_EXPORT_ALL': '1', 'REQUEST_METHOD': self.command,
                       'PATH_INFO': path, 'QUERY_STRING': query, 'CONTENT_TYPE': self.headers.get('content-type') or '',
                       'CONTENT_LENGTH': str(len(data)), 'REMOTE_USER': os.environ['GIT_USER'] if authed else '', 'REMOTE_ADDR': '10.0.0.1'}
                if self.headers.get('content-encoding'): cgi['HTTP_CONTENT_ENCODING'] = self.headers['content-encoding']
                if self.headers.get('git-protocol'): cgi['GIT_PROTOCOL'] = self.headers['git-protocol']
                p = subprocess.run(['git', 'http-backend'], input=data, env=cgi, capture_output=True)
                head, _, rest = p.stdout.partition(b'\r\n\r\n')
                status, headers = 200, []
                for line in head.decode('latin-1').split('\r\n'):
                    k, _, v = line.partition(':')
                    if k.lower() == 'status': status = int(v.strip().split()[0])
                    elif k: headers.append((k, v.strip()))
                self.send_response(status)
                for k, v in headers: self.send_header(k, v)
                self.send_header('content-length', str(len(rest))); self.end_headers(); self.wfile.write(rest)
            do_GET = handle_git
            do_POST = handle_git
            def log_message(self, *a): pass
        print('ready', flush=True)
        ThreadingHTTPServer(('0.0.0.0', 80), H).serve_forever()
        """;

    private readonly IDockerClient _client;

    private GitServer(IDockerClient client, TestNetwork network)
    {
        _client = client;
        Network = network;
    }

    public TestNetwork Network { get; }
    public string Address { get; private set; } = "";
    public string ContainerId { get; private set; } = "";

    public static string Url(string repository) => $"http://{Host}/{repository}.git";

    public static async Task<GitServer> StartAsync(IDockerClient client, string agentImage)
    {
        var network = await TestNetwork.CreateAsync(client, "git");
        var server = new GitServer(client, network);
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = agentImage,
            Entrypoint = [],
            Cmd = ["python3", "-u", "-c", Script],
            User = "0:0",
            Env = [$"GIT_USER={User}", $"GIT_TOKEN={Token}"],
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
            HostConfig = new HostConfig { NetworkMode = network.Name, Memory = 256L << 20 },
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings> { [network.Name] = new EndpointSettings { Aliases = [Host] } },
            },
        });
        server.ContainerId = created.ID;
        await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        var inspect = await client.Containers.InspectContainerAsync(created.ID);
        server.Address = inspect.NetworkSettings!.Networks![network.Name].IPAddress;
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Parse(server.Address), 80);
                return server;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(100);
            }
        }
        await server.DisposeAsync();
        throw new InvalidOperationException("The test git server did not start listening.");
    }

    /// <summary>Runs a bash script in the git server's container (where the bare repositories are, under /srv/git).</summary>
    public async Task<(long ExitCode, string Stdout, string Stderr)> ExecAsync(string script, params string[] env)
    {
        var exec = await _client.Exec.CreateContainerExecAsync(ContainerId, new ContainerExecCreateParameters
        {
            Cmd = ["bash", "-c", script], AttachStdout = true, AttachStderr = true, Env = ["HOME=/tmp", "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@t", .. env],
        });
        using var stream = await _client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters());
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(cts.Token);
        var inspect = await _client.Exec.InspectContainerExecAsync(exec.ID);
        return (inspect.ExitCode ?? -1, stdout, stderr);
    }

    /// <summary>The commit a branch of a repository points to, or "" when it does not exist.</summary>
    public async Task<string> RevParseAsync(string repository, string branch) =>
        (await ExecAsync($"git --git-dir /srv/git/{repository}.git rev-parse --verify -q refs/heads/{branch} || true")).Stdout.Trim();

    public ValueTask DisposeAsync() => Network.DisposeAsync();
}
