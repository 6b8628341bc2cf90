using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Files;

/// <summary>Signed file links against the real engine: big files in and out, ranges, and every way a link is refused.</summary>
[Collection(ServerCollection.Name)]
public sealed class FileLinkTests(ServerFixture open, AuthServerFixture auth)
{
    private static async Task<FileLinkDto> Link(HttpClient http, string session, string path, string method, int? expires = null, bool singleUse = false)
    {
        var r = await http.PostAsJsonAsync($"/api/sessions/{session}/links", new { path, method, expires_seconds = expires, single_use = singleUse });
        r.EnsureSuccessStatusCode();
        return (await r.Content.ReadFromJsonAsync<FileLinkDto>(SandboxJson.Options))!;
    }

    /// <summary>Pseudo-random bytes of a given length, made as they are read (nothing held).</summary>
    private sealed class Noise(long length) : Stream
    {
        private long _at;
        private readonly Random _random = new(1234);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _at; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _at);
            _random.NextBytes(buffer.AsSpan(offset, n));
            _at += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static string Sha256Of(Stream s)
    {
        using var sha = SHA256.Create();
        return Convert.ToHexStringLower(sha.ComputeHash(s));
    }

    [Fact]
    public async Task Two_hundred_megabytes_go_in_through_a_put_link_and_come_back_byte_identical_resumed_halfway()
    {
        const long size = 200L * 1024 * 1024;
        using var http = open.CreateHttpClient();
        http.Timeout = TimeSpan.FromMinutes(5);
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { limits = new { workspace_mb = 300 } })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var expected = Sha256Of(new Noise(size));

        var put = await Link(http, session.Id, "big/data.bin", "PUT");
        using var anonymous = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var content = new StreamContent(new Noise(size));
        content.Headers.ContentLength = size;
        var uploaded = await anonymous.PutAsync(put.Url, content);
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        Assert.Equal(expected, uploaded.Headers.GetValues("X-Content-SHA256").Single());

        var get = await Link(http, session.Id, "big/data.bin", "GET");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // First half, then the download "breaks" and resumes from where it stopped.
        using (var first = new HttpRequestMessage(HttpMethod.Get, get.Url))
        {
            first.Headers.Range = new RangeHeaderValue(0, size / 2 - 1);
            using var r = await anonymous.SendAsync(first, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal($"\"{expected}\"", r.Headers.ETag!.Tag);
            sha.AppendData(await r.Content.ReadAsByteArrayAsync());
        }
        using (var rest = new HttpRequestMessage(HttpMethod.Get, get.Url))
        {
            rest.Headers.Range = new RangeHeaderValue(size / 2, null);
            rest.Headers.IfRange = new RangeConditionHeaderValue($"\"{expected}\"");
            using var r = await anonymous.SendAsync(rest, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal($"bytes {size / 2}-{size - 1}/{size}", r.Content.Headers.ContentRange!.ToString());
            await using var body = await r.Content.ReadAsStreamAsync();
            var buffer = new byte[1 << 20];
            int n;
            while ((n = await body.ReadAsync(buffer)) > 0)
            {
                sha.AppendData(buffer, 0, n);
            }
        }
        Assert.Equal(expected, Convert.ToHexStringLower(sha.GetHashAndReset()));
        // Unchanged: 304 for its ETag.
        using (var again = new HttpRequestMessage(HttpMethod.Get, get.Url))
        {
            again.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{expected}\""));
            Assert.Equal(HttpStatusCode.NotModified, (await anonymous.SendAsync(again)).StatusCode);
        }
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }

    [Fact]
    public async Task Expired_tampered_wrong_path_wrong_method_used_and_closed_session_links_are_refused()
    {
        using var http = open.CreateHttpClient();
        var a = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await http.PutAsync($"/api/sessions/{a.Id}/files/secret.txt", new StringContent("top"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"/api/sessions/{a.Id}/files/other.txt", new StringContent("other"))).EnsureSuccessStatusCode();
        using var anonymous = new HttpClient();
        var good = await Link(http, a.Id, "secret.txt", "GET");
        Assert.Equal("top", await anonymous.GetStringAsync(good.Url));

        var token = good.Url.Split("/links/")[1].Split('/')[0];
        var baseUrl = good.Url.Split("/links/")[0];
        var tampered = token[..^3] + (token[^3] == 'A' ? "B" : "A") + token[^2..];
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync($"{baseUrl}/links/{tampered}/secret.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync($"{baseUrl}/links/{token}/other.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.PutAsync(good.Url, new StringContent("overwrite"))).StatusCode);

        var once = await Link(http, a.Id, "secret.txt", "GET", singleUse: true);
        Assert.Equal("top", await anonymous.GetStringAsync(once.Url));
        var second = await anonymous.GetAsync(once.Url);
        Assert.Equal(HttpStatusCode.Forbidden, second.StatusCode);
        Assert.Contains("used already", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var brief = await Link(http, a.Id, "secret.txt", "GET", expires: 1);
        await Task.Delay(2100);
        var expired = await anonymous.GetAsync(brief.Url);
        Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);
        Assert.Contains("expired", await expired.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Another session's link does not open this one's files, and a closed session's links die with it.
        var b = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var ofB = await Link(http, b.Id, "secret.txt", "GET");
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync(ofB.Url)).StatusCode); // b has no such file
        var live = await Link(http, a.Id, "secret.txt", "GET");
        await http.DeleteAsync($"/api/sessions/{a.Id}");
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync(live.Url)).StatusCode);
        await http.DeleteAsync($"/api/sessions/{b.Id}");
    }

    [Fact]
    public async Task A_link_needs_no_token_while_the_api_still_does()
    {
        using var http = auth.CreateHttpClient();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await http.PutAsync($"/api/sessions/{session.Id}/files/a.txt", new StringContent("through a link"))).EnsureSuccessStatusCode();
        var link = await Link(http, session.Id, "a.txt", "GET");
        using var anonymous = new HttpClient { BaseAddress = auth.BaseAddress };
        Assert.Equal("through a link", await anonymous.GetStringAsync(link.Url));
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/sessions/{session.Id}/files/a.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync($"/api/sessions/{session.Id}/links", new { path = "a.txt" })).StatusCode);
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }

    [Fact]
    public async Task An_upload_past_the_workspace_stops_before_it_starts_and_leaves_no_partial_file()
    {
        using var http = open.CreateHttpClient();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { limits = new { workspace_mb = 16 } })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var put = await Link(http, session.Id, "too/big.bin", "PUT");
        using var anonymous = new HttpClient();
        var content = new StreamContent(new Noise(40L << 20));
        content.Headers.ContentLength = 40L << 20;
        var r = await anonymous.PutAsync(put.Url, content);
        Assert.Equal((HttpStatusCode)507, r.StatusCode);
        Assert.Contains("workspace_full", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // A body shorter than it said: refused, and nothing is left either.
        var put2 = await Link(http, session.Id, "short.bin", "PUT");
        var request = new HttpRequestMessage(HttpMethod.Put, put2.Url) { Content = new StreamContent(new Noise(1 << 20)) };
        request.Content.Headers.ContentLength = 2 << 20;
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => anonymous.SendAsync(request));
        List<FileEntryDto>? files = null;
        for (var i = 0; i < 150 && (files is null || files.Count > 0); i++)
        {
            await Task.Delay(100); // the server notices the cut body and cleans up
            files = await http.GetFromJsonAsync<List<FileEntryDto>>($"/api/sessions/{session.Id}/files", SandboxJson.Options);
        }
        Assert.Empty(files!);
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }
}

/// <summary>Links over MCP: get_file_url, and download_file answering a big file with a link.</summary>
[Collection(ServerCollection.Name)]
public sealed class McpFileLinkTests(ServerFixture server)
{
    [Fact]
    public async Task A_big_download_answers_with_a_link_and_get_file_url_hands_out_put_links()
    {
        await using var mcp = await server.CreateMcpClientAsync();
        var id = (await mcp.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        var put = await mcp.CallOkAsync("get_file_url", new() { ["session_id"] = id, ["path"] = "blob.bin", ["method"] = "PUT" });
        var bytes = new byte[3 << 20];
        new Random(7).NextBytes(bytes);
        using var anonymous = new HttpClient();
        (await anonymous.PutAsync(put.GetProperty("url").GetString(), new ByteArrayContent(bytes))).EnsureSuccessStatusCode();
        var answer = await mcp.CallOkAsync("download_file", new() { ["session_id"] = id, ["path"] = "blob.bin" });
        Assert.Equal(3 << 20, answer.GetProperty("size").GetInt64());
        var url = answer.GetProperty("link").GetProperty("url").GetString()!;
        Assert.Equal(bytes, await anonymous.GetByteArrayAsync(url));
        await mcp.CallOkAsync("close_session", new() { ["session_id"] = id });
    }
}

public sealed class LinkLoggingTests
{
    [Theory]
    [InlineData("/links/eyJzZXNzaW9u.c2lnbmF0dXJl/data/a.csv", "/links/…/data/a.csv")]
    [InlineData("/links/eyJzZXNzaW9u.c2lnbmF0dXJl", "/links/…")]
    [InlineData("/api/sessions/x/files/a", "/api/sessions/x/files/a")]
    public void The_request_log_never_shows_a_link_token(string path, string logged) =>
        Assert.Equal(logged, Sandbox.Server.Hosting.ServerProgram.RedactLinkToken(path));
}

/// <summary>Session files and execution output as MCP resources.</summary>
[Collection(ServerCollection.Name)]
public sealed class McpResourceTests(ServerFixture server)
{
    [Fact]
    public async Task Files_and_kept_output_read_as_resources_with_ranges()
    {
        await using var mcp = await server.CreateMcpClientAsync();
        var templates = await mcp.ListResourceTemplatesAsync();
        Assert.Contains(templates, t => t.UriTemplate == "sandbox://sessions/{session_id}/files/{+path}");
        Assert.Contains(templates, t => t.UriTemplate.StartsWith("sandbox://sessions/{session_id}/executions/", StringComparison.Ordinal));
        var id = (await mcp.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        await mcp.CallOkAsync("upload_file", new() { ["session_id"] = id, ["path"] = "notes/today.md", ["content_base64"] = Convert.ToBase64String("# today\n"u8.ToArray()) });
        var file = await mcp.ReadResourceAsync($"sandbox://sessions/{id}/files/notes/today.md");
        Assert.Equal("# today\n", Assert.IsType<ModelContextProtocol.Protocol.TextResourceContents>(Assert.Single(file.Contents)).Text);
        var run = await mcp.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "for i in range(1000): print('%04d' % i)", ["max_output_chars"] = 500 });
        var executionId = run.GetProperty("execution_id").GetString()!;
        var slice = await mcp.ReadResourceAsync($"sandbox://sessions/{id}/executions/{executionId}/stdout?offset=4000&length=10");
        Assert.Equal("0800\n0801\n", Assert.IsType<ModelContextProtocol.Protocol.TextResourceContents>(Assert.Single(slice.Contents)).Text);
        await Assert.ThrowsAnyAsync<ModelContextProtocol.McpException>(() => mcp.ReadResourceAsync($"sandbox://sessions/not-{id}/files/notes/today.md").AsTask());
        await mcp.CallOkAsync("close_session", new() { ["session_id"] = id });
    }
}
