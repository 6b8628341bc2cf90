using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

/// <summary>
/// The floors under every execution, spoken to over the engine's attached stream (what the runner's protocol rides on)
/// with no server in between: a container running a Python loop that echoes JSON lines (the wire's limit), or the
/// session runner itself answering <c>print(1)</c> (the wire plus the runner and its interpreter, without the engine).
/// Labelled like a session so an interrupted benchmark leaves nothing the orphan sweep misses.
/// </summary>
internal sealed class AttachFloor : IAsyncDisposable
{
    private const string Echo = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n";
    private static readonly byte[] Line = Encoding.UTF8.GetBytes("{\"op\":\"exec\",\"id\":\"1\",\"code\":\"print(1)\"}\n");
    private readonly IDockerClient _client;
    private readonly string _id;
    private readonly MultiplexedStream _stream;
    private readonly byte[] _buffer = new byte[65536];
    private readonly bool _runner;
    private readonly StringBuilder _pending = new();
    private int _next;

    private AttachFloor(IDockerClient client, string id, MultiplexedStream stream, bool runner)
    {
        _client = client;
        _id = id;
        _stream = stream;
        _runner = runner;
    }

    /// <summary>Starts the echo loop, or with <paramref name="runner"/> the session runner (as root, as in a session,
    /// with a tmpfs workspace) and waits for its first line.</summary>
    public static async Task<AttachFloor> StartAsync(IDockerClient client, string image, string? runtime, bool runner = false)
    {
        string[] command = runner ? ["python3", "-I", "-u", "-c", RunnerScript()] : ["python3", "-u", "-c", Echo];
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image, Entrypoint = [], Cmd = command, User = runner ? "0:0" : "1000:1000", WorkingDir = "/",
            OpenStdin = true, AttachStdin = true, AttachStdout = true, AttachStderr = true,
            Labels = new Dictionary<string, string>
            {
                ["dev.sandbox.product"] = "sandbox", ["dev.sandbox.session-id"] = "bench-floor-" + Guid.NewGuid().ToString("N")[..8],
            },
            HostConfig = new HostConfig
            {
                NetworkMode = "none", ReadonlyRootfs = true, CapDrop = ["ALL"], CapAdd = runner ? ["SETUID", "SETGID", "KILL"] : [],
                Memory = 256L << 20, NanoCPUs = 1_000_000_000, Runtime = runtime, Init = runner,
                SecurityOpt = runtime == "runsc" ? [] : ["no-new-privileges"], LogConfig = new LogConfig { Type = "none" },
                Tmpfs = new Dictionary<string, string> { ["/workspace"] = "size=64m,uid=1000,gid=1000,mode=0755", ["/tmp"] = "size=64m,mode=1777" },
            },
        });
        var stream = await client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters { Stream = true, Stdin = true, Stdout = true, Stderr = true });
        await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        var floor = new AttachFloor(client, created.ID, stream, runner);
        if (runner)
        {
            await floor.ReadLineAsync(); // hello
            await Task.Delay(2000); // the runner starts its interpreter at once; let it be ready
        }
        return floor;
    }

    private static string RunnerScript() => Sandbox.EmbeddedScript.Runner.Value;

    public async Task RoundTripAsync()
    {
        if (_runner)
        {
            var id = "b" + ++_next;
            var request = Encoding.UTF8.GetBytes($"{{\"op\":\"exec\",\"id\":\"{id}\",\"code\":\"print(1)\",\"language\":\"python\",\"max_output\":1048576,\"spill\":\"{id}\",\"spill_after\":1048576,\"timeout_s\":30}}\n");
            await _stream.WriteAsync(request, 0, request.Length, CancellationToken.None);
            while (!(await ReadLineAsync()).Contains("\"type\":\"done\"", StringComparison.Ordinal))
            {
            }
            return;
        }
        await _stream.WriteAsync(Line, 0, Line.Length, CancellationToken.None);
        var got = 0;
        while (got < Line.Length)
        {
            var r = await _stream.ReadOutputAsync(_buffer, 0, _buffer.Length, CancellationToken.None);
            if (r.EOF)
            {
                throw new InvalidOperationException("the echo container ended");
            }
            if (r.Target == MultiplexedStream.TargetStream.StandardOut)
            {
                got += r.Count;
            }
        }
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var text = _pending.ToString();
            var nl = text.IndexOf('\n', StringComparison.Ordinal);
            if (nl >= 0)
            {
                _pending.Remove(0, nl + 1);
                return text[..nl];
            }
            var r = await _stream.ReadOutputAsync(_buffer, 0, _buffer.Length, CancellationToken.None);
            if (r.EOF)
            {
                throw new InvalidOperationException("the container ended");
            }
            if (r.Target == MultiplexedStream.TargetStream.StandardOut)
            {
                _pending.Append(Encoding.UTF8.GetString(_buffer, 0, r.Count));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stream.Dispose();
        await _client.Containers.RemoveContainerAsync(_id, new ContainerRemoveParameters { Force = true });
    }
}
