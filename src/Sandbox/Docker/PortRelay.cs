using Docker.DotNet;
using Docker.DotNet.Models;
using Sandbox.Files;

namespace Sandbox.Docker;

/// <summary>
/// A connection to a port inside a sandbox without giving it a network: the engine runs a tiny relay in the
/// container (as the sandbox user) that connects to the port on the sandbox's loopback address and copies bytes
/// between that socket and its own stdin/stdout, which the engine carries over the exec's attached stream.
/// </summary>
internal static class PortRelay
{
    private const string Script = """
        import os, socket, sys, threading
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        s.settimeout(None)
        def up():
            try:
                while True:
                    d = os.read(0, 65536)
                    if not d:
                        break
                    s.sendall(d)
            finally:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        threading.Thread(target=up, daemon=True).start()
        out = sys.stdout.buffer
        while True:
            d = s.recv(65536)
            if not d:
                break
            out.write(d)
            out.flush()
        """;

    public static async Task<Stream> ConnectAsync(IDockerClient client, string containerId, int port, CancellationToken ct)
    {
        var exec = await DockerCall.Run(() => client.Exec.CreateContainerExecAsync(containerId, new ContainerExecCreateParameters
        {
            Cmd = ["python3", "-I", "-u", "-c", Script, port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            User = "1000:1000",
            AttachStdin = true, AttachStdout = true, AttachStderr = true, TTY = false,
        }, ct)).ConfigureAwait(false);
        var stream = await DockerCall.Run(() => client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters { TTY = false }, ct)).ConfigureAwait(false);
        return new RelayStream(stream);
    }

    /// <summary>The exec's stdin as the write side, its stdout as the read side; stderr (the relay's own errors) is dropped.</summary>
    private sealed class RelayStream(MultiplexedStream inner) : ForwardOnlyStream
    {
        private readonly byte[] _pending = new byte[81920];
        private int _pendingStart;
        private int _pendingCount;
        private bool _closedWrite;

        public override bool CanWrite => true;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // Bytes read ahead are served first. A zero-byte read (HTTP clients use them to wait for data without a
            // buffer) waits for the next chunk and keeps it, never consuming part of the engine's framing.
            if (_pendingCount == 0 && !await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
            var n = Math.Min(buffer.Length, _pendingCount);
            _pending.AsMemory(_pendingStart, n).CopyTo(buffer);
            _pendingStart += n;
            _pendingCount -= n;
            return n;
        }

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            while (true)
            {
                var result = await inner.ReadOutputAsync(_pending, 0, _pending.Length, ct).ConfigureAwait(false);
                if (result.EOF)
                {
                    return false;
                }
                if (result.Target == MultiplexedStream.TargetStream.StandardOut && result.Count > 0)
                {
                    _pendingStart = 0;
                    _pendingCount = result.Count;
                    return true;
                }
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var array = buffer.ToArray();
            await inner.WriteAsync(array, 0, array.Length, cancellationToken).ConfigureAwait(false);
        }


        protected override void Dispose(bool disposing)
        {
            if (disposing && !_closedWrite)
            {
                _closedWrite = true;
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
