using System.Net;
using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Hosting;

[Collection(ServerCollection.Name)]
public sealed class RequestGuardTests(ServerFixture open, AuthServerFixture auth)
{
    private const string McpInitialize =
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""";

    private static HttpRequestMessage McpPost(string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(McpInitialize, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        return request;
    }

    [Fact]
    public async Task Foreign_origin_is_refused_on_mcp_and_api()
    {
        using var http = open.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(McpPost("http://evil.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(McpPost($"http://127.0.0.1:{open.BaseAddress.Port}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(McpPost())).StatusCode);
        using var api = new HttpRequestMessage(HttpMethod.Get, "/api/sessions");
        api.Headers.Add("Origin", "http://attacker.test:8080");
        var refused = await http.SendAsync(api);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("forbidden", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Foreign_host_header_is_refused()
    {
        // DNS rebinding: a page on attacker.example resolving to 127.0.0.1 sends Host: attacker.example (and, for
        // same-origin GETs, no Origin at all). Only loopback host names are served unless AllowedHosts says otherwise.
        using var http = open.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/sessions");
        request.Headers.Host = "attacker.example";
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(request)).StatusCode);
        using var local = new HttpRequestMessage(HttpMethod.Get, "/api/sessions");
        local.Headers.Host = $"localhost:{open.BaseAddress.Port}";
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(local)).StatusCode);
    }

    [Fact]
    public async Task Missing_or_wrong_token_is_refused_when_tokens_are_configured()
    {
        using var none = auth.CreateHttpClient(token: "");
        none.DefaultRequestHeaders.Authorization = null;
        Assert.Equal(HttpStatusCode.Unauthorized, (await none.GetAsync("/api/sessions")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await none.SendAsync(McpPost())).StatusCode);
        using var wrong = auth.CreateHttpClient(token: "wrong-token-0123456789abcdef");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/sessions")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await none.GetAsync("/healthz")).StatusCode);

        using var alice = auth.CreateHttpClient(ServerFixture.Token);
        using var bob = auth.CreateHttpClient(ServerFixture.OtherToken);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/api/sessions")).StatusCode);
        var session = await (await alice.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        // Another caller cannot see or touch it: it does not exist for them.
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/sessions/{session!.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/api/sessions/{session.Id}")).StatusCode);
        Assert.DoesNotContain(session.Id, await bob.GetStringAsync("/api/sessions"));
        Assert.Contains(session.Id, await alice.GetStringAsync("/api/sessions"));

        await using var mcpBob = await auth.CreateMcpClientAsync(ServerFixture.OtherToken);
        Assert.Equal("session_not_found", await mcpBob.CallErrorCodeAsync("execute_code", new() { ["session_id"] = session.Id, ["code"] = "1" }));
    }

    [Fact]
    public async Task Oversized_and_malformed_bodies_are_refused()
    {
        using var http = open.CreateHttpClient();
        var id = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id;
        var big = await http.SendExpectingContinueAsync(HttpMethod.Put, $"/api/sessions/{id}/files/big.bin", new ByteArrayContent(new byte[3_000_000]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        var bigJson = await http.SendExpectingContinueAsync(HttpMethod.Post, $"/api/sessions/{id}/execute", new StringContent("{\"code\":\"" + new string('x', 3_000_000) + "\"}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, bigJson.StatusCode);
        var bad = await http.PostAsync($"/api/sessions/{id}/execute", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("invalid_argument", await bad.Content.ReadAsStringAsync());
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }
}
