using System.Formats.Tar;
using System.Net;
using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Files;

/// <summary>Volumes over REST with callers by token: the files API, signed links without a token, another caller.</summary>
[Collection(ServerCollection.Name)]
public sealed class VolumeApiTests(AuthServerFixture server)
{
    [Fact]
    public async Task A_volume_is_filled_through_the_api_and_links_and_only_its_owner_reaches_it()
    {
        using var alice = server.CreateHttpClient();
        using var bob = server.CreateHttpClient(ServerFixture.OtherToken);
        using var anyone = new HttpClient { BaseAddress = server.BaseAddress };
        var name = "api-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.Created, (await alice.PostAsJsonAsync("/api/volumes", new { name, size_mb = 1 })).StatusCode);
        try
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anyone.GetAsync("/api/volumes")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/volumes/{name}/files")).StatusCode);
            Assert.DoesNotContain(name, await bob.GetStringAsync("/api/volumes"), StringComparison.Ordinal);

            Assert.Equal(HttpStatusCode.OK, (await alice.PutAsync($"/api/volumes/{name}/files/a/first.txt", new StringContent("first"))).StatusCode);
            var full = await alice.PutAsync($"/api/volumes/{name}/files/big.bin", new ByteArrayContent(new byte[1_500_000]));
            Assert.Equal(HttpStatusCode.BadRequest, full.StatusCode);
            Assert.Contains("limit_exceeded", await full.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // A PUT link uploads without a token; a single-use GET link reads once; a link is for its volume's files only.
            var put = (await (await alice.PostAsJsonAsync($"/api/volumes/{name}/links", new { path = "b.txt", method = "PUT" })).Content.ReadFromJsonAsync<FileLinkDto>(SandboxJson.Options))!;
            Assert.Equal(HttpStatusCode.OK, (await anyone.PutAsync(put.Url, new StringContent("through a link"))).StatusCode);
            var get = (await (await alice.PostAsJsonAsync($"/api/volumes/{name}/links", new { path = "b.txt", single_use = true })).Content.ReadFromJsonAsync<FileLinkDto>(SandboxJson.Options))!;
            Assert.Equal("through a link", await anyone.GetStringAsync(get.Url));
            Assert.Equal(HttpStatusCode.Forbidden, (await anyone.GetAsync(get.Url)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await anyone.GetAsync(put.Url.Replace("/b.txt", "/a/first.txt", StringComparison.Ordinal))).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await anyone.GetAsync(put.Url.Replace("/volume-links/", "/links/", StringComparison.Ordinal))).StatusCode);

            var files = await alice.GetFromJsonAsync<List<VolumeEntryDto>>($"/api/volumes/{name}/files", SandboxJson.Options);
            Assert.Equal(["a/first.txt", "b.txt"], files!.Where(f => f.Kind == "file").Select(f => f.Path).Order());
            await using var tar = await alice.GetStreamAsync($"/api/volumes/{name}/archive");
            using var reader = new TarReader(tar);
            var names = new List<string>();
            while (await reader.GetNextEntryAsync() is { } e)
            {
                names.Add(e.Name);
            }
            Assert.Contains("b.txt", names);
            Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/api/volumes/{name}")).StatusCode);
        }
        finally
        {
            Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"/api/volumes/{name}")).StatusCode);
        }
    }
}
