using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Sandbox.Testing;

/// <summary>One scripted model turn: a tool call, or a final text.</summary>
public sealed record ScriptedTurn(string? Tool, object? Input, string? Text)
{
    public static ScriptedTurn ToolUse(string tool, object input) => new(tool, input, null);
    public static ScriptedTurn Final(string text) => new(null, null, text);
}

/// <summary>A request the scripted model received.</summary>
public sealed record ScriptedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// A model endpoint that speaks the Anthropic Messages API (streaming Server-Sent Events and plain JSON) and answers
/// from a script: the n-th request of the conversation (counted by the tool results it carries) gets the n-th turn.
/// Requests without tools (the CLI's side queries, such as titles) get a short text. The real agent CLI talks to it
/// exactly as it would to the real API; only the model's decisions are scripted. It listens on the gateway address of a
/// Docker network the test creates, so only containers on that network (the model proxy) can reach it.
/// </summary>
public sealed class ScriptedModelEndpoint : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _accept;
    private readonly IReadOnlyList<ScriptedTurn> _script;
    private readonly bool _hang;

    public ScriptedModelEndpoint(IPAddress address, IReadOnlyList<ScriptedTurn> script, bool hang = false)
    {
        _script = script;
        _hang = hang;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Url = $"http://{address}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accept = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The endpoint's base URL.</summary>
    public string Url { get; }

    /// <summary>Every request received, in order.</summary>
    public ConcurrentQueue<ScriptedRequest> Requests { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_cts.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var request = await ReadRequestAsync(stream, _cts.Token);
                if (request is null)
                {
                    return;
                }
                Requests.Enqueue(request);
                if (request.Path.StartsWith("/v1/responses", StringComparison.Ordinal))
                {
                    await AnswerResponsesAsync(stream, request);
                    return;
                }
                if (!request.Path.StartsWith("/v1/messages", StringComparison.Ordinal) || request.Path.Contains("count_tokens", StringComparison.Ordinal))
                {
                    var body = request.Path.Contains("count_tokens", StringComparison.Ordinal) ? "{\"input_tokens\":10}" : "{}";
                    await WriteAsync(stream, $"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");
                    continue;
                }
                await AnswerAsync(stream, request);
                return; // one answer per connection: close-delimited responses keep this simple
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AnswerAsync(NetworkStream stream, ScriptedRequest request)
    {
        var json = JsonNode.Parse(request.Body)!.AsObject();
        var streaming = json["stream"]?.GetValue<bool>() == true;
        var hasTools = json["tools"] is JsonArray { Count: > 0 };
        var toolResults = 0;
        foreach (var m in json["messages"]?.AsArray() ?? [])
        {
            if (m?["content"] is JsonArray blocks)
            {
                toolResults += blocks.Count(b => b?["type"]?.GetValue<string>() == "tool_result");
            }
        }
        var model = json["model"]?.GetValue<string>() ?? "claude-scripted";
        var turn = !hasTools ? ScriptedTurn.Final("Scripted side answer") : _script[Math.Min(toolResults, _script.Count - 1)];
        var toolId = $"toolu_scripted_{toolResults}";
        if (!streaming)
        {
            object content = turn.Tool is null
                ? new object[] { new { type = "text", text = turn.Text } }
                : new object[] { new { type = "tool_use", id = toolId, name = turn.Tool, input = turn.Input } };
            var body = JsonSerializer.Serialize(new
            {
                id = "msg_scripted", type = "message", role = "assistant", model, content,
                stop_reason = turn.Tool is null ? "end_turn" : "tool_use", stop_sequence = (string?)null,
                usage = new { input_tokens = 10, output_tokens = 5 },
            });
            await WriteAsync(stream, $"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {Encoding.UTF8.GetByteCount(body)}\r\nconnection: close\r\n\r\n{body}");
            return;
        }
        await WriteAsync(stream, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n");
        await Event(stream, "message_start", new
        {
            type = "message_start",
            message = new
            {
                id = "msg_scripted", type = "message", role = "assistant", model, content = Array.Empty<object>(),
                stop_reason = (string?)null, stop_sequence = (string?)null, usage = new { input_tokens = 10, output_tokens = 1 },
            },
        });
        if (_hang && hasTools)
        {
            await Task.Delay(Timeout.Infinite, _cts.Token); // a model that never finishes
        }
        if (turn.Tool is null)
        {
            await Event(stream, "content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } });
            await Event(stream, "content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = turn.Text } });
        }
        else
        {
            await Event(stream, "content_block_start", new
            {
                type = "content_block_start", index = 0,
                content_block = new { type = "tool_use", id = toolId, name = turn.Tool, input = new { } },
            });
            await Event(stream, "content_block_delta", new
            {
                type = "content_block_delta", index = 0,
                delta = new { type = "input_json_delta", partial_json = JsonSerializer.Serialize(turn.Input) },
            });
        }
        await Event(stream, "content_block_stop", new { type = "content_block_stop", index = 0 });
        await Event(stream, "message_delta", new
        {
            type = "message_delta",
            delta = new { stop_reason = turn.Tool is null ? "end_turn" : "tool_use", stop_sequence = (string?)null },
            usage = new { output_tokens = 5 },
        });
        await Event(stream, "message_stop", new { type = "message_stop" });
    }

    /// <summary>OpenAI's Responses API, streamed, as Codex uses it: a tool turn is a call of <c>exec_command</c> whose
    /// arguments are the turn's input; the turn is chosen by how many tool outputs the request carries.</summary>
    private async Task AnswerResponsesAsync(NetworkStream stream, ScriptedRequest request)
    {
        var json = JsonNode.Parse(request.Body)!.AsObject();
        var outputs = json["input"]?.AsArray().Count(i => i?["type"]?.GetValue<string>() == "function_call_output") ?? 0;
        var turn = _script[Math.Min(outputs, _script.Count - 1)];
        await WriteAsync(stream, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n");
        var id = $"resp_scripted_{outputs}";
        await Event(stream, "response.created", new { type = "response.created", response = new { id, status = "in_progress" } });
        if (_hang)
        {
            await Task.Delay(Timeout.Infinite, _cts.Token);
        }
        object item = turn.Tool is null
            ? new { type = "message", id = $"msg_{outputs}", role = "assistant", status = "completed", content = new object[] { new { type = "output_text", text = turn.Text, annotations = Array.Empty<object>() } } }
            : new { type = "function_call", id = $"fc_{outputs}", call_id = $"call_{outputs}", name = turn.Tool, arguments = JsonSerializer.Serialize(turn.Input), status = "completed" };
        await Event(stream, "response.output_item.added", new { type = "response.output_item.added", output_index = 0, item });
        await Event(stream, "response.output_item.done", new { type = "response.output_item.done", output_index = 0, item });
        await Event(stream, "response.completed", new
        {
            type = "response.completed",
            response = new
            {
                id, status = "completed", output = new[] { item },
                usage = new { input_tokens = 10, input_tokens_details = new { cached_tokens = 0 }, output_tokens = 5, output_tokens_details = new { reasoning_tokens = 0 }, total_tokens = 15 },
            },
        });
    }

    private static Task Event(NetworkStream stream, string name, object data) =>
        WriteAsync(stream, $"event: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n");

    private static async Task WriteAsync(NetworkStream stream, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
    }

    private static async Task<ScriptedRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken ct)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(head))
        {
            if (await stream.ReadAsync(one, ct) == 0)
            {
                return null;
            }
            head.Add(one[0]);
            if (head.Count > 64 * 1024)
            {
                return null;
            }
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var start = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        var length = headers.TryGetValue("content-length", out var l) ? int.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read), ct);
            if (n == 0)
            {
                return null;
            }
            read += n;
        }
        return new ScriptedRequest(start[0], start.Length > 1 ? start[1] : "/", headers, Encoding.UTF8.GetString(body));
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
    }
}

/// <summary>A Docker bridge network the test creates (and removes), labelled so a leak check can find it.</summary>
public sealed class TestNetwork : IAsyncDisposable
{
    private readonly IDockerClient _client;

    private TestNetwork(IDockerClient client, string name, string id, IPAddress gateway)
    {
        _client = client;
        Name = name;
        Id = id;
        Gateway = gateway;
    }

    public string Name { get; }
    public string Id { get; }
    /// <summary>The host's address on this network.</summary>
    public IPAddress Gateway { get; }

    public static async Task<TestNetwork> CreateAsync(IDockerClient client, string purpose)
    {
        var name = $"sbx-test-{purpose}-{Guid.NewGuid():N}"[..40];
        var created = await client.Networks.CreateNetworkAsync(new NetworksCreateParameters
        {
            Name = name, Driver = "bridge",
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
        });
        var inspect = await client.Networks.InspectNetworkAsync(created.ID);
        var gateway = inspect.IPAM.Config.Select(c => c.Gateway).First(g => !string.IsNullOrEmpty(g));
        return new TestNetwork(client, name, created.ID, IPAddress.Parse(gateway));
    }

    /// <summary>Starts a container on this network that answers any TCP connection with "decoy" (a target that must
    /// stay unreachable from sandboxes); returns its address and port.</summary>
    public async Task<(string Address, int Port, string ContainerId)> StartDecoyAsync(string image)
    {
        var created = await _client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = [],
            Cmd = ["python3", "-c", "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 8081))\ns.listen()\nwhile True:\n    c,_=s.accept(); c.sendall(b'decoy\\n'); c.close()"],
            User = "1000:1000",
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
            HostConfig = new HostConfig { NetworkMode = Name, AutoRemove = false, Memory = 64L << 20 },
        });
        await _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
        var inspect = await _client.Containers.InspectContainerAsync(created.ID);
        return (inspect.NetworkSettings!.Networks![Name].IPAddress, 8081, created.ID);
    }

    public async ValueTask DisposeAsync()
    {
        var inspect = await _client.Networks.InspectNetworkAsync(Id);
        foreach (var container in inspect.Containers?.Keys.ToList() ?? [])
        {
            try
            {
                await _client.Containers.RemoveContainerAsync(container, new ContainerRemoveParameters { Force = true });
            }
            catch (DockerContainerNotFoundException)
            {
            }
        }
        await _client.Networks.DeleteNetworkAsync(Id);
    }
}
