using Microsoft.Extensions.Time.Testing;
using Sandbox.Ports;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Ports;

/// <summary>Preview grants: each opens one exposed port of one session for its owner, until it expires, and is no file
/// link (nor is a file link a grant).</summary>
[Collection(EngineCollection.Name)]
public sealed class PreviewGrantTests(EngineFixture fixture)
{
    private static string Refusal(Action act) => Assert.Throws<SandboxException>(act).Message;

    [Fact]
    public async Task A_grant_opens_its_own_preview_only_and_only_until_it_expires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = fixture.CreateEngine(time: time);
        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var other = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        Assert.Equal(SandboxErrorCodes.Forbidden, Assert.Throws<SandboxException>(() => engine.Ports.Grant(s.Id, Owners.Alice, 8000)).Code);
        await engine.Ports.ExposeAsync(s.Id, Owners.Alice, 8000, CancellationToken.None);
        await engine.Ports.ExposeAsync(other.Id, Owners.Alice, 8000, CancellationToken.None);
        Assert.Equal(SandboxErrorCodes.SessionNotFound, Assert.Throws<SandboxException>(() => engine.Ports.Grant(s.Id, Owners.Bob, 8000)).Code);

        var grant = engine.Ports.Grant(s.Id, Owners.Alice, 8000);
        Assert.Equal(PreviewHost.Label(s.Id, 8000), grant.HostLabel);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromHours(1), grant.ExpiresAt, TimeSpan.FromSeconds(1));
        Assert.Equal(Owners.Alice, engine.Ports.Authorize(grant.Token, s.Id, 8000));
        Assert.Contains("another preview", Refusal(() => engine.Ports.Authorize(grant.Token, other.Id, 8000)), StringComparison.Ordinal);
        Assert.Contains("another preview", Refusal(() => engine.Ports.Authorize(grant.Token, s.Id, 8001)), StringComparison.Ordinal);
        Assert.Contains("not valid", Refusal(() => engine.Ports.Authorize("f" + grant.Token[1..], s.Id, 8000)), StringComparison.Ordinal);

        // A grant opens no file, and a file link opens no preview, though one key signs both.
        var link = engine.Links.Create(s.Id, Owners.Alice, "8000", "GET", null, false);
        Assert.Contains("not valid", Refusal(() => engine.Ports.Authorize(link.Token, s.Id, 8000)), StringComparison.Ordinal);
        var asFile = await Assert.ThrowsAsync<SandboxException>(() => engine.Links.RedeemAsync(grant.Token, "GET", "8000", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, asFile.Code);

        time.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(Owners.Alice, engine.Ports.Authorize(grant.Token, s.Id, 8000));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Contains("expired", Refusal(() => engine.Ports.Authorize(grant.Token, s.Id, 8000)), StringComparison.Ordinal);
    }
}
