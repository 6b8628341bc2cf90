using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Sessions;
using Sandbox.Testing;
using Serilog.Core;
using Serilog.Events;

namespace Sandbox.Server.Tests.Agents;

/// <summary>A server whose agents talk to a scripted model endpoint on a network this fixture creates, with every log
/// event (verbose) captured so tests can prove the API key never reaches a log.</summary>
public sealed class AgentServerFixture : ServerFixture
{
    public const string ApiKey = "sk-ant-server-key-7d2e9b41c6a0";

    public static readonly ScriptedTurn[] HelloScript =
    [
        ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/hello.py", content = "print('hello from the agent')\n" }),
        ScriptedTurn.ToolUse("Bash", new { command = "python3 hello.py && env | sort", description = "Run hello.py" }),
        ScriptedTurn.Final("Done: hello.py prints a greeting."),
    ];

    private TestNetwork? _network;
    private Sandbox.Docker.DockerBackend? _backend;

    public ScriptedModelEndpoint Model { get; private set; } = null!;

    public CapturingSink Logs { get; } = new();

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        $"--Sandbox:Agents:ModelEndpoint={Model.Url}",
        $"--Sandbox:Agents:EgressNetwork={_network!.Name}",
        "--Serilog:MinimumLevel:Default=Verbose",
    ];

    protected override void Configure(WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ILogEventSink>(Logs);
    }

    public override async Task InitializeAsync()
    {
        _backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        _network = await TestNetwork.CreateAsync(_backend.Client, "agents");
        Model = new ScriptedModelEndpoint(_network.Gateway, HelloScript);
        await base.InitializeAsync();
    }

    // The key comes from the environment, as in production (Sandbox__Agents__ApiKey), never from a file.
    protected override IReadOnlyDictionary<string, string> StartEnvironment => new Dictionary<string, string> { ["Sandbox__Agents__ApiKey"] = ApiKey };

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Model.DisposeAsync();
        if (_network is not null)
        {
            await _network.DisposeAsync();
        }
        _backend?.Dispose();
    }

    /// <summary>Every log event, rendered with all its properties.</summary>
    public sealed class CapturingSink : ILogEventSink
    {
        private readonly ConcurrentQueue<string> _events = new();

        public void Emit(LogEvent logEvent)
        {
            ArgumentNullException.ThrowIfNull(logEvent);
            _events.Enqueue(logEvent.RenderMessage() + " " + string.Join(" ", logEvent.Properties.Select(p => $"{p.Key}={p.Value}")) + " " + logEvent.Exception);
        }

        public string All => string.Join("\n", _events);

        public int Count => _events.Count;
    }
}
