using System.ComponentModel.DataAnnotations;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Tests.Hosting;

/// <summary>Server settings that are checked before the server starts.</summary>
public sealed class ServerOptionsTests
{
    private static bool Valid(ServerOptions o) => Validator.TryValidateObject(o, new ValidationContext(o), [], validateAllProperties: true);

    [Theory]
    [InlineData(null, "localhost")]
    [InlineData("https://preview.example-previews.com", "preview.example-previews.com")]
    [InlineData("http://previews.internal:8443/", "previews.internal")]
    public void A_preview_url_names_the_domain_previews_are_served_under(string? url, string domain)
    {
        var o = new ServerOptions { PreviewUrl = url };
        Assert.True(Valid(o));
        Assert.Equal(domain, o.PreviewDomain);
    }

    [Theory]
    [InlineData("preview.example.com")]
    [InlineData("ftp://preview.example.com")]
    [InlineData("https://preview.example.com/previews")]
    [InlineData("https://preview.example.com/?x=1")]
    [InlineData("https://user@preview.example.com")]
    [InlineData("https://10.0.0.5")]
    public void A_preview_url_with_anything_but_a_scheme_and_host_name_stops_the_start(string url)
    {
        Assert.False(Valid(new ServerOptions { PreviewUrl = url }));
    }
}
