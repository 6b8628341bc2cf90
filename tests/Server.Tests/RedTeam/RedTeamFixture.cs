using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.RedTeam;

/// <summary>A server for hostile inputs, with a canary session whose state must survive every attack. The suite runs
/// once per isolation tier, each tier required (no fallback), so every attack meets the wall it names.</summary>
public abstract class RedTeamFixture : ServerFixture
{
    /// <summary>The tier every session of this server runs in.</summary>
    public abstract string Isolation { get; }

    /// <summary>A secret in the server's own environment that sandboxed code must never see.</summary>
    public const string ServerSecret = "srv-secret-5d1c9a7e0b";

    public const string CanaryState = "canary-state-7f3e";

    public string CanaryId { get; private set; } = "";

    protected override IEnumerable<string> ExtraArgs =>
        // A longer kill grace than the default 5 s: on the shared 2-core test machine, with other suites running beside it, reaping
        // a fork bomb's thousands of processes has taken longer than 5 s (the session was then stopped as unresponsive).
        ["--Sandbox:MaxSessions=20", "--Sandbox:Pool:Size=0", $"--Sandbox:Isolation:Default={Isolation}", "--Sandbox:Isolation:Required=true",
         "--Sandbox:KillGrace=00:00:20"];

    public override async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("SANDBOX_REDTEAM_SECRET", ServerSecret);
        await base.InitializeAsync();
        using var http = CreateHttpClient();
        var canary = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        CanaryId = canary!.Id;
        Assert.Equal(Isolation, canary.Isolation);
        (await http.PostAsJsonAsync($"/api/sessions/{CanaryId}/execute", new { code = $"canary = '{CanaryState}'" })).EnsureSuccessStatusCode();
    }

    /// <summary>The server is healthy and the canary session still runs code with its state intact.</summary>
    public async Task AssertUnaffectedAsync()
    {
        using var http = CreateHttpClient();
        var health = await http.GetFromJsonAsync<HealthDto>("/healthz", SandboxJson.Options);
        Assert.Equal("ok", health!.Status);
        var r = await http.PostAsJsonAsync($"/api/sessions/{CanaryId}/execute", new { code = "print(canary, sum(range(1000)))" });
        r.EnsureSuccessStatusCode();
        var result = await r.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal($"{CanaryState} 499500\n", result!.Stdout);
    }
}

public sealed class GvisorRedTeamFixture : RedTeamFixture
{
    public override string Isolation => "gvisor";
}

public sealed class ContainerRedTeamFixture : RedTeamFixture
{
    public override string Isolation => "container";
}

[CollectionDefinition(Name)]
public sealed class GvisorRedTeamCollection : ICollectionFixture<GvisorRedTeamFixture>
{
    public const string Name = "red-team-gvisor";
}

[CollectionDefinition(Name)]
public sealed class ContainerRedTeamCollection : ICollectionFixture<ContainerRedTeamFixture>
{
    public const string Name = "red-team-container";
}
