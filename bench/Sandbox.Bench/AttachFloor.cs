using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

/// <summary>
/// The floor under every execution: a container running a Python loop that echoes JSON lines, spoken to over the
/// engine's attached stream (what the runner's protocol rides on), with no server, no runner logic and no interpreter
/// state in between. Labelled like a session so an interrupted benchmark leaves nothing the orphan sweep misses.
/// </summary>
internal sealed class AttachFloor : IAsyncDisposable
{
    private const string Echo = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n";
    private static readonly byte[] Line = Encoding.UTF8.GetBytes("{\"op\":\"exec\",\"id\":\"1\",\"code\":\"print(1)\"}\n");
    private readonly IDockerClient _client;
    private readonly string _id;
    private readonly MultiplexedStream _stream;
    private readonly byte[] _buffer = new byte[4096];

    private AttachFloor(IDockerClient client, string id, MultiplexedStream stream)
    {
        _client = client;
        _id = id;
        _stream = stream;
    }

    public static async Task<AttachFloor> StartAsync(IDockerClient client, string image, string? runtime)
    {
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image, Entrypoint = [], Cmd = ["python3", "-u", "-c", Echo], User = "1000:1000",
            OpenStdin = true, AttachStdin = true, AttachStdout = true, AttachStderr = true,
            Labels = new Dictionary<string, string>
            {
                ["dev.sandbox.product"] = "sandbox", ["dev.sandbox.session-id"] = "bench-floor-" + Guid.NewGuid().ToString("N")[..8],
            },
            HostConfig = new HostConfig
            {
                NetworkMode = "none", ReadonlyRootfs = true, CapDrop = ["ALL"], Memory = 256L << 20, NanoCPUs = 1_000_000_000, Runtime = runtime,
                SecurityOpt = runtime == "runsc" ? [] : ["no-new-privileges"],
            },
        });
        var stream = await client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters { Stream = true, Stdin = true, Stdout = true, Stderr = true });
        await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        return new AttachFloor(client, created.ID, stream);
    }

    public async Task RoundTripAsync()
    {
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

    public async ValueTask DisposeAsync()
    {
        _stream.Dispose();
        await _client.Containers.RemoveContainerAsync(_id, new ContainerRemoveParameters { Force = true });
    }
}
