using Sandbox.Ports;

namespace Sandbox.Unit.Tests.Ports;

/// <summary>Preview host names: one per session and port, read back exactly, and nothing else taken for one.</summary>
public sealed class PreviewHostTests
{
    private const string Id = "AAECAwQFBgcICQoLDA0ODw";

    [Fact]
    public void A_label_names_port_and_session_in_lower_case_and_reads_back_from_any_case_with_a_port_suffix()
    {
        var label = PreviewHost.Label(Id, 8000);
        Assert.Equal("8000-000102030405060708090a0b0c0d0e0f", label);
        Assert.True(PreviewHost.TryParse(label.ToUpperInvariant() + ".LocalHost:8080", "localhost", out var session, out var port));
        Assert.Equal((Id, 8000), (session, port));
        Assert.True(PreviewHost.TryParse(PreviewHost.Label(Id, 1) + ".preview.example.com", "preview.example.com", out _, out var low));
        Assert.Equal(1, low);
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("127.0.0.1:8080")]
    [InlineData("8000-000102030405060708090a0b0c0d0e0f.localhost.evil.test")]
    [InlineData("8000-000102030405060708090a0b0c0d0e0f.evil.test")]
    [InlineData("8000-000102030405060708090a0b0c0d0e.localhost")]
    [InlineData("8000-000102030405060708090a0b0c0d0e0g.localhost")]
    [InlineData("0-000102030405060708090a0b0c0d0e0f.localhost")]
    [InlineData("70000-000102030405060708090a0b0c0d0e0f.localhost")]
    [InlineData("+80-000102030405060708090a0b0c0d0e0f.localhost")]
    [InlineData("x.8000-000102030405060708090a0b0c0d0e0f.localhost")]
    [InlineData("8000-000102030405060708090a0b0c0d0e0flocalhost")]
    public void Other_hosts_are_no_preview(string host)
    {
        Assert.False(PreviewHost.TryParse(host, "localhost", out _, out _));
    }

    [Theory]
    [InlineData("short")]
    [InlineData("AAECAwQFBgcICQoLDA0OD_")]
    [InlineData("AAECAwQFBgcICQoLDA0OD")]
    public void An_id_that_is_not_a_session_id_names_no_host(string id)
    {
        Assert.Equal(SandboxErrorCodes.InvalidArgument, Assert.Throws<SandboxException>(() => PreviewHost.Label(id, 80)).Code);
    }
}
