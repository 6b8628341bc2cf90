using System.Diagnostics;
using Sandbox.Testing;

namespace Sandbox.Cli.Tests;

/// <summary>A real server whose agents talk to a scripted model endpoint (on a network this fixture creates), and the
/// command line as a user installs it: packed by this repository and installed with <c>dotnet tool install</c>.</summary>
public sealed class CliFixture : ServerFixture
{
    public const string ApiKey = "sk-ant-cli-test-5b1e0c";

    /// <summary>What the scripted model does when spawned with a prompt: writes a file, then says it is done.</summary>
    public static readonly ScriptedTurn[] Script =
    [
        ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/feature.txt", content = "written by the agent\n" }),
        ScriptedTurn.Final("CLIDONE8812"),
    ];

    private TestNetwork? _network;
    private Sandbox.Docker.DockerBackend? _backend;

    public ScriptedModelEndpoint Model { get; private set; } = null!;

    /// <summary>Where the tool is installed (and the packed package).</summary>
    public string ToolDirectory { get; } = Directory.CreateTempSubdirectory("sandbox-cli-tool-").FullName;

    /// <summary>The installed <c>sandbox</c> command.</summary>
    public string Tool => Path.Combine(ToolDirectory, "tools", OperatingSystem.IsWindows() ? "sandbox.exe" : "sandbox");

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        $"--Sandbox:Agents:ModelEndpoint={Model.Url}",
        $"--Sandbox:Agents:EgressNetwork={_network!.Name}",
    ];

    protected override IReadOnlyDictionary<string, string> StartEnvironment => new Dictionary<string, string> { ["Sandbox__Agents__ApiKey"] = ApiKey };

    public override async Task InitializeAsync()
    {
        var install = Task.Run(InstallToolAsync);
        _backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        _network = await TestNetwork.CreateAsync(_backend.Client, "cli");
        Model = new ScriptedModelEndpoint(_network.Gateway, Script);
        await base.InitializeAsync();
        await install;
    }

    /// <summary>Packs src/Cli and installs the package as a tool, from that package only.</summary>
    private async Task InstallToolAsync()
    {
        var packages = Path.Combine(ToolDirectory, "packages");
        await RunAsync("dotnet", ["pack", Path.Combine(RepoPaths.Root, "src", "Cli", "Sandbox.Cli.csproj"), "-c", "Release", "-o", packages, "--nologo"], RepoPaths.Root);
        await RunAsync("dotnet", ["tool", "install", "Sandbox.Cli", "--tool-path", Path.Combine(ToolDirectory, "tools"), "--source", packages], ToolDirectory);
        if (!File.Exists(Tool))
        {
            throw new InvalidOperationException("dotnet tool install did not install the sandbox command at " + Tool);
        }
    }

    private static async Task RunAsync(string file, string[] args, string directory)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await p.WaitForExitAsync(timeout.Token);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {await stdout}\n{await stderr}");
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Model.DisposeAsync();
        if (_network is not null)
        {
            await _network.DisposeAsync();
        }
        _backend?.Dispose();
        Directory.Delete(ToolDirectory, recursive: true);
    }
}
