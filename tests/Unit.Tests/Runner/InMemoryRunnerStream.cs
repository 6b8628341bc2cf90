using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Sandbox.Runner;

namespace Sandbox.Unit.Tests.Runner;

/// <summary>A runner stream the test plays the runner on: it writes the runner's output and reads what the engine sent.</summary>
internal sealed class InMemoryRunnerStream : RunnerStream
{
    private readonly Channel<(byte[] Data, bool Stderr)> _output = Channel.CreateUnbounded<(byte[], bool)>();
    private readonly Channel<string> _sent = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _partial = new();
    private (byte[] Data, bool Stderr, int Offset)? _current;

    /// <summary>The runner prints a line on stdout (or stderr).</summary>
    public void Say(string line, bool stderr = false) => _output.Writer.TryWrite((Encoding.UTF8.GetBytes(line + "\n"), stderr));

    public void Say(object message) => Say(JsonSerializer.Serialize(message));

    /// <summary>The runner's process ends.</summary>
    public void End() => _output.Writer.TryComplete();

    /// <summary>The next request the engine sent, parsed.</summary>
    public async Task<JsonElement> NextRequestAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var line = await _sent.Reader.ReadAsync(timeout.Token);
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    public override async ValueTask<RunnerRead> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        if (_current is null)
        {
            if (!await _output.Reader.WaitToReadAsync(ct))
            {
                return new RunnerRead(0, false, true);
            }
            var next = await _output.Reader.ReadAsync(ct);
            _current = (next.Data, next.Stderr, 0);
        }
        var (data, stderr, at) = _current.Value;
        var n = Math.Min(count, data.Length - at);
        Array.Copy(data, at, buffer, offset, n);
        _current = at + n == data.Length ? null : (data, stderr, at + n);
        return new RunnerRead(n, stderr, false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        _partial.Append(Encoding.UTF8.GetString(buffer, offset, count));
        for (var nl = _partial.ToString().IndexOf('\n', StringComparison.Ordinal); nl >= 0; nl = _partial.ToString().IndexOf('\n', StringComparison.Ordinal))
        {
            _sent.Writer.TryWrite(_partial.ToString(0, nl));
            _partial.Remove(0, nl + 1);
        }
        return Task.CompletedTask;
    }

    protected override void Dispose(bool disposing) => _output.Writer.TryComplete();
}
