using System.Diagnostics;
using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.RedTeam;

/// <summary>
/// Hostile code, with every static-safety rule allowed so that only the container's isolation stands in the way.
/// Each case asserts the safe outcome, then that the server is healthy and the canary session is unaffected.
/// </summary>
public abstract class HostileCodeTests(RedTeamFixture server)
{
    private static readonly string[] AllowAll = ["PY001", "PY002", "PY003", "PY004", "SH001", "SH002", "SH003", "SH004", "SH005"];

    internal Task<(string SessionId, ExecutionResultDto Result)> Attack(string code, string language = "python", double timeout = 5, object? limits = null) =>
        Attack(server, code, language, timeout, limits);

    /// <summary>Runs hostile code in a new session of <paramref name="server"/> with every safety rule allowed, then checks
    /// that the session, the server and the canary are unaffected.</summary>
    internal static async Task<(string SessionId, ExecutionResultDto Result)> Attack(RedTeamFixture server, string code, string language = "python", double timeout = 5, object? limits = null)
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { limits })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var response = await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute",
            new { code, language, timeout_seconds = timeout, allow = AllowAll });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var result = (await response.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
        // The attacked session itself still answers.
        var after = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "print('alive')" });
        var afterText = await after.Content.ReadAsStringAsync();
        Assert.True(after.IsSuccessStatusCode && afterText.Contains("\"stdout\":\"alive\\n\"", StringComparison.Ordinal),
            $"session unusable after the attack: {afterText}; attack result: {System.Text.Json.JsonSerializer.Serialize(result, SandboxJson.Options)[..Math.Min(2000, System.Text.Json.JsonSerializer.Serialize(result, SandboxJson.Options).Length)]}");
        await server.AssertUnaffectedAsync();
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
        return (session.Id, result);
    }

    private static string Out(ExecutionResultDto r) => r.Stdout + r.Stderr;

    [Fact] public async Task Fork_bomb_python() => Assert.True((await Attack("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass")).Result.TimedOut);

    [Fact] public async Task Fork_bomb_bash() { var r = (await Attack(":(){ :|:& };:", "bash")).Result; Assert.True(r.TimedOut || r.ExitCode != 0); }

    [Fact]
    public async Task Memory_bomb()
    {
        // Both tiers: the code ends with a result that names memory, and the session answers on (Attack checks).
        var r = (await Attack("a = []\nwhile True: a.append(b'x' * (64 << 20))", timeout: 20, limits: new { memory_mb = 128 })).Result;
        Assert.True(r.Error?.Type is "MemoryError" or "OutOfMemory", $"{r.Error?.Type}: {r.Error?.Message}");
    }

    [Fact] public async Task Cpu_spin() { var sw = Stopwatch.StartNew(); var r = (await Attack("while True: pass", timeout: 2)).Result; Assert.True(r.TimedOut); Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20)); }

    [Fact] public async Task Sleep_past_timeout() => Assert.True((await Attack("import time\ntime.sleep(60)", timeout: 1)).Result.TimedOut);

    [Fact] public async Task Process_ignoring_sigterm_and_sigint() { var r = (await Attack("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(1)", timeout: 2)).Result; Assert.True(r.TimedOut); Assert.True(r.StateLost); }

    [Fact] public async Task Background_process_left_running_is_killed_on_timeout() { var r = (await Attack("import subprocess, time\nsubprocess.Popen(['sleep', '600'])\ntime.sleep(60)", timeout: 1)).Result; Assert.True(r.TimedOut); }

    [Fact] public async Task Huge_stdout() { var r = (await Attack("for _ in range(200):\n    print('z' * 100000)", timeout: 30)).Result; Assert.True(r.Truncated); }

    [Fact] public async Task One_huge_line_without_newline() { var r = (await Attack("import sys\nsys.stdout.write('q' * 60_000_000)", timeout: 30)).Result; Assert.True(r.Truncated); Assert.Equal(0, r.ExitCode); }

    [Fact] public async Task Huge_stderr() { var r = (await Attack("import sys\nfor _ in range(100): sys.stderr.write('e' * 100000)", timeout: 30)).Result; Assert.True(r.Truncated); }

    [Fact] public async Task Disk_fill_workspace() { var r = (await Attack("f = open('/workspace/fill', 'wb')\nwhile True: f.write(b'x' * (1 << 20))", timeout: 20, limits: new { workspace_mb = 16 })).Result; Assert.Contains("No space left", Out(r)); }

    [Fact] public async Task Disk_fill_tmp() { var r = (await Attack("f = open('/tmp/fill', 'wb')\nwhile True: f.write(b'x' * (1 << 20))", timeout: 20)).Result; Assert.Contains("No space left", Out(r)); }

    [Fact] public async Task Disk_fill_dev_shm() { var r = (await Attack("f = open('/dev/shm/fill', 'wb')\nwhile True: f.write(b'x' * (1 << 20))", timeout: 20)).Result; Assert.Contains("No space left", Out(r)); }

    [Fact]
    public async Task Write_to_read_only_root()
    {
        // /var/tmp is world-writable in the image, so only the read-only root can refuse it; /usr/bin is refused either
        // way (gVisor checks permissions first and says "Permission denied").
        var r = (await Attack("for p in ['/var/tmp/evil', '/usr/bin/evil']:\n    try:\n        open(p, 'w'); print('wrote', p)\n    except OSError as e: print(p, e.strerror)")).Result;
        Assert.Contains("/var/tmp/evil Read-only file system", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote", r.Stdout, StringComparison.Ordinal);
    }

    [Fact] public async Task Millions_of_small_files() { var r = (await Attack("import os\nos.makedirs('many', exist_ok=True)\nfor i in range(2_000_000):\n    open(f'many/{i}', 'w').close()", timeout: 10, limits: new { workspace_mb = 8 })).Result; Assert.Contains("No space left", Out(r)); Assert.False(r.StateLost); }

    [Fact]
    public async Task Millions_of_small_files_in_tmp()
    {
        var r = (await Attack("import os\nos.makedirs('/tmp/many', exist_ok=True)\nfor i in range(2_000_000):\n    open(f'/tmp/many/{i}', 'w').close()", timeout: 10)).Result;
        // The container tier bounds /tmp's inodes (ENOSPC); gVisor keeps /tmp in its own memory without an inode bound,
        // so there the attack meets the timeout (and, run long enough, the memory limit, which ends only its session).
        Assert.True(server.Isolation == "gvisor" ? r.TimedOut || Out(r).Contains("No space left", StringComparison.Ordinal) : Out(r).Contains("No space left", StringComparison.Ordinal), Out(r));
        Assert.False(r.StateLost);
    }

    [Fact] public async Task Zip_bomb_extraction_is_bounded() { var r = (await Attack("import zipfile, io\nb = io.BytesIO()\nwith zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('bomb.bin', b'\\0' * (200 << 20))\nprint('zip', len(b.getvalue()))\nzipfile.ZipFile(io.BytesIO(b.getvalue())).extractall('out')", timeout: 30, limits: new { workspace_mb = 32, memory_mb = 512 })).Result; Assert.Contains("No space left", Out(r)); }

    [Fact] public async Task Secrets_of_the_server_are_not_visible() { var r = (await Attack("import os\nprint(os.environ)\ntry:\n    print(open('/proc/1/environ').read())\nexcept Exception as e:\n    print('denied', type(e).__name__)")).Result; Assert.DoesNotContain(RedTeamFixture.ServerSecret, Out(r)); if (server.Isolation == "container") { Assert.Contains("denied PermissionError", r.Stdout); } /* gVisor lets uid 1000 read /proc/1/environ: the sandbox's environment holds nothing secret by design (keys travel over the runner's stdin) */ }

    [Fact] public async Task Runner_process_is_out_of_reach() { var r = (await Attack("import os\nfor pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n    try:\n        st = open(f'/proc/{pid}/status').read()\n        if 'Uid:\\t0' in st:\n            try:\n                os.kill(int(pid), 9); print('killed', pid)\n            except PermissionError: print('protected', pid)\n    except FileNotFoundError: pass")).Result; Assert.DoesNotContain("killed", r.Stdout); Assert.Contains("protected", r.Stdout); }

    [Fact] public async Task No_docker_socket_or_host_paths() { var r = (await Attack("import os, glob\nprint([p for p in ['/var/run/docker.sock', '/run/docker.sock', '/host', '/var/lib/docker'] if os.path.exists(p)])\nprint([p for d in ['/run', '/var/run', '/tmp', '/workspace', '/var/lib', '/home', '/root'] for p in glob.glob(d + '/**/*.sock', recursive=True)][:5])")).Result; Assert.Equal("[]\n[]\n", r.Stdout); }

    [Fact] public async Task Mount_is_refused() { var r = (await Attack("mount -t tmpfs none /tmp/x 2>&1; mkdir -p /tmp/m && mount -t proc proc /tmp/m 2>&1; echo rc=$?", "bash")).Result; Assert.Contains("rc=", r.Stdout); Assert.DoesNotContain("rc=0", r.Stdout); }

    [Fact]
    public async Task Unshare_is_refused()
    {
        if (server.Isolation == "container")
        {
            var r = (await Attack("unshare -r id 2>&1; echo rc=$?; unshare -m true 2>&1; echo rc=$?", "bash")).Result;
            Assert.DoesNotContain("rc=0", r.Stdout);
            return;
        }
        // gVisor implements user namespaces inside its own kernel: "root" there owns nothing of the sandbox, let alone
        // the host. It cannot write the image or mount, and a mount namespace without one is refused.
        var g = (await Attack("unshare -r sh -c 'id -u; echo x > /usr/bin/evil; echo rc=$?; mount -t tmpfs none /usr 2>&1; echo mount=$?' 2>&1; unshare -m true 2>&1; echo plain=$?", "bash")).Result;
        Assert.DoesNotContain("rc=0", g.Stdout);
        Assert.DoesNotContain("mount=0", g.Stdout);
        Assert.DoesNotContain("plain=0", g.Stdout);
    }

    [Fact] public async Task Ptrace_is_refused() { var r = (await Attack("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())")).Result; Assert.StartsWith("-1 ", r.Stdout); }

    [Fact] public async Task Setuid_and_privilege_escalation_fail() { var r = (await Attack("import os\ntry:\n    os.setuid(0); print('root!')\nexcept PermissionError: print('no setuid')\nst = open('/proc/self/status').read()\nprint([l for l in st.splitlines() if l.startswith(('CapEff', 'NoNewPrivs'))])\nimport subprocess\nprint(subprocess.run(['su', '-c', 'id'], capture_output=True, input=b'', timeout=5).returncode != 0)")).Result; Assert.Contains("no setuid", r.Stdout); Assert.Contains("CapEff:\\t0000000000000000", r.Stdout); if (server.Isolation == "container") { Assert.Contains("NoNewPrivs:\\t1", r.Stdout); } Assert.Contains("True", r.Stdout); Assert.DoesNotContain("root!", r.Stdout); }

    [Fact] public async Task Dns_lookups_fail() { var r = (await Attack("import socket\ntry:\n    socket.getaddrinfo('example.com', 80); print('resolved')\nexcept OSError as e: print('no dns', type(e).__name__)")).Result; Assert.Contains("no dns", r.Stdout); }

    [Fact] public async Task Connect_to_the_servers_port_fails() { var r = (await Attack($"import socket\nfor host in ['127.0.0.1', 'localhost']:\n    try:\n        socket.create_connection((host, {server.BaseAddress.Port}), timeout=2); print('connected')\n    except OSError as e: print('refused', type(e).__name__)")).Result; Assert.DoesNotContain("connected", r.Stdout); }

    [Fact] public async Task Only_loopback_interface_exists() { var r = (await Attack("import socket\nprint(sorted(n for _, n in socket.if_nameindex()))")).Result; Assert.Equal("['lo']\n", r.Stdout); }

    [Fact] public async Task Obfuscated_dangerous_code_passes_the_check_but_isolation_holds()
    {
        // No allow list: the static check does not see through getattr/base64, which is why it is only a guard rail.
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var code = "import os as o\nf = o.__dict__['sys' + 'tem']\nprint('rc', f('cat /proc/1/environ > /dev/null 2>&1; rm -rf / 2>/dev/null; id -u'))";
        var r = await (await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute", new { code })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Contains("1000", r!.Stdout);
        var check = await (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "import os\nprint(os.path.exists('/usr/bin/python3'))" })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal("True\n", check!.Stdout);
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Symlink_created_by_code_is_not_followed_out_by_download()
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute", new { code = "import os\nos.symlink('/etc/shadow', 'shadow')\nos.symlink('/proc/1', 'init')", allow = AllowAll });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await http.GetAsync($"/api/sessions/{session.Id}/files/shadow")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await http.GetAsync($"/api/sessions/{session.Id}/files/init/environ")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await http.PutAsync($"/api/sessions/{session.Id}/files/init/x", new ByteArrayContent([1]))).StatusCode);
        await server.AssertUnaffectedAsync();
    }
}

[Collection(GvisorRedTeamCollection.Name)]
public sealed class HostileCodeTestsOnGvisor(GvisorRedTeamFixture server) : HostileCodeTests(server);

[Collection(ContainerRedTeamCollection.Name)]
public sealed class HostileCodeTestsInContainer(ContainerRedTeamFixture server) : HostileCodeTests(server);
