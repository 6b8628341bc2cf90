using Sandbox.Egress;

namespace Sandbox.Unit.Tests.Egress;

/// <summary>Allow-list patterns: what parses, what they match, and the operator ceiling (pure logic).</summary>
public sealed class EgressPatternTests
{
    [Theory]
    [InlineData("api.example.com", "api.example.com")]
    [InlineData("API.Example.com.", "api.example.com")]
    [InlineData("*.example.org", "*.example.org")]
    [InlineData("host.example.com:8443", "host.example.com:8443")]
    [InlineData("*:*", "*:*")]
    public void Parses_names_wildcards_and_ports(string text, string normal) => Assert.Equal(normal, EgressPattern.Parse(text).ToString());

    [Theory]
    [InlineData("10.0.0.1", "IP addresses")]
    [InlineData("[::1]:443", "IP addresses")]
    [InlineData("127.1", "host name")]
    [InlineData("https://api.example.com/", "not a URL")]
    [InlineData("a.*.example.com", "host name")]
    [InlineData("example.com:0", "not a port")]
    [InlineData("example.com:70000", "not a port")]
    [InlineData("", "empty")]
    public void Refuses_addresses_urls_and_odd_wildcards(string text, string why)
    {
        Assert.False(EgressPattern.TryParse(text, out _, out var error));
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api.example.com", "api.example.com", 443, true)]
    [InlineData("api.example.com", "api.example.com", 80, true)]
    [InlineData("api.example.com", "api.example.com", 8443, false)]
    [InlineData("api.example.com", "evil-api.example.com", 443, false)]
    [InlineData("*.example.org", "files.example.org", 443, true)]
    [InlineData("*.example.org", "example.org", 443, false)]
    [InlineData("*.example.org", "example.org.evil.net", 443, false)]
    [InlineData("*.example.org", "evilexample.org", 443, false)]
    [InlineData("host.example.com:8443", "host.example.com", 8443, true)]
    [InlineData("host.example.com:8443", "host.example.com", 443, false)]
    [InlineData("host.example.com:*", "host.example.com", 22, true)]
    public void Matches_exactly_the_names_and_ports_it_says(string pattern, string host, int port, bool expected) =>
        Assert.Equal(expected, EgressPattern.Parse(pattern).Matches(host, port));

    [Theory]
    [InlineData("*.example.org", "pypi.example.org", true)]
    [InlineData("*.example.org", "*.files.example.org", true)]
    [InlineData("*.example.org", "*.example.org", true)]
    [InlineData("*.example.org", "example.org", false)]
    [InlineData("*.example.org", "*", false)]
    [InlineData("*", "*", true)]
    [InlineData("api.example.com", "api.example.com:443", true)]
    [InlineData("api.example.com", "api.example.com:8443", false)]
    [InlineData("api.example.com", "api.example.com:*", false)]
    [InlineData("api.example.com:*", "api.example.com:8443", true)]
    [InlineData("api.example.com:8443", "api.example.com", false)]
    public void A_ceiling_covers_only_what_it_allows_itself(string ceiling, string request, bool expected) =>
        Assert.Equal(expected, EgressPattern.Parse(ceiling).Covers(EgressPattern.Parse(request)));
}
