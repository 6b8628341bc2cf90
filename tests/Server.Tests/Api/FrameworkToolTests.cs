using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Api;

/// <summary>The function-calling face: definitions a framework accepts, and calls by name run against the real engine.</summary>
[Collection(ServerCollection.Name)]
public sealed class FrameworkToolTests(ServerFixture server)
{
    private static async Task<JsonArray> Definitions(HttpClient http, string url)
    {
        var r = await http.GetAsync(url);
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{url}: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        return JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsArray();
    }

    private static async Task<(HttpStatusCode Status, JsonObject Body)> Call(HttpClient http, string url, object body)
    {
        var r = await http.PostAsJsonAsync(url, body);
        return (r.StatusCode, JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject());
    }

    /// <summary>A definition's parameters are a valid draft 2020-12 schema of an object, and the arguments a model would
    /// send are valid against it.</summary>
    private static void ValidSchema(JsonNode parameters)
    {
        var element = JsonSerializer.SerializeToElement(parameters);
        var meta = MetaSchemas.Draft202012.Evaluate(element, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(meta.IsValid, parameters.ToJsonString());
        Assert.Equal("object", parameters["type"]!.GetValue<string>());
    }

    private static void Accepts(JsonArray definitions, string name, object arguments)
    {
        var parameters = definitions.Select(d => d!["function"]!).Single(f => f["name"]!.GetValue<string>() == name)["parameters"]!;
        var schema = JsonSchema.FromText(parameters.ToJsonString());
        var result = schema.Evaluate(JsonSerializer.SerializeToElement(arguments), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, $"{name}: {JsonSerializer.Serialize(arguments)} against {parameters.ToJsonString()}");
    }

    [Fact]
    public async Task Definitions_validate_as_json_schema_and_calls_by_name_run_in_the_session()
    {
        using var http = server.CreateHttpClient();
        var openai = await Definitions(http, "/api/tools/openai");
        Assert.Equal(["execute_code", "upload_file", "download_file", "list_files", "search_code", "delete_file", "start_process", "get_process_output", "kill_process", "expose_port"],
            openai.Select(d => d!["function"]!["name"]!.GetValue<string>()));
        foreach (var d in openai)
        {
            Assert.Equal("function", d!["type"]!.GetValue<string>());
            Assert.Matches(new Regex("^[a-zA-Z0-9_-]{1,64}$"), d["function"]!["name"]!.GetValue<string>());
            Assert.False(string.IsNullOrWhiteSpace(d["function"]!["description"]!.GetValue<string>()));
            ValidSchema(d["function"]!["parameters"]!);
            Assert.Contains("session_id", d["function"]!["parameters"]!["required"]!.AsArray().Select(x => x!.GetValue<string>()));
        }
        var all = await Definitions(http, "/api/tools/openai?tools=all&format=anthropic");
        await using (var mcp = await server.CreateMcpClientAsync())
        {
            Assert.Equal((await mcp.ListToolsAsync()).Select(t => t.Name).Order(), all.Select(d => d!["name"]!.GetValue<string>()).Order());
        }
        foreach (var d in all)
        {
            ValidSchema(d!["input_schema"]!);
        }
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/api/tools/openai?format=yaml")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/tools/openai?tools=execute_code,nope")).StatusCode);

        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        try
        {
            // OpenAI's shape: arguments as a JSON string, sent to the unbound endpoint.
            var upload = new { session_id = session.Id, path = "src/app.py", content_base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes("def answer():\n    return 42\n")) };
            Accepts(openai, "upload_file", upload);
            var (status, wrote) = await Call(http, "/api/tools/call", new { name = "upload_file", arguments = JsonSerializer.Serialize(upload) });
            Assert.Equal((HttpStatusCode.OK, false), (status, wrote["is_error"]!.GetValue<bool>()));

            // Bound to the session: no session_id anywhere in the definitions; an OpenAI tool_call passed through as it is.
            var bound = await Definitions(http, $"/api/sessions/{session.Id}/tools/openai");
            Assert.DoesNotContain(bound, d => d!["function"]!["parameters"]!["properties"]!.AsObject().ContainsKey("session_id"));
            var code = new { code = "import sys; sys.path.insert(0, 'src')\nfrom app import answer\nprint(answer())" };
            Accepts(bound, "execute_code", code);
            var (_, ran) = await Call(http, $"/api/sessions/{session.Id}/tools/call",
                new { id = "call_1", type = "function", function = new { name = "execute_code", arguments = JsonSerializer.Serialize(code) } });
            Assert.False(ran["is_error"]!.GetValue<bool>(), ran.ToJsonString());
            Assert.Contains("42", ran["content"]!.GetValue<string>());
            Assert.Equal("42\n", ran["structured"]!["stdout"]!.GetValue<string>());

            // Anthropic's tool_use shape.
            var (_, found) = await Call(http, $"/api/sessions/{session.Id}/tools/call", new { type = "tool_use", name = "search_code", input = new { pattern = "return 4[0-9]" } });
            Assert.Contains("src/app.py:2:", found["content"]!.GetValue<string>());

            // A tool's own error is a result the model reads; a malformed call is the caller's error.
            var (missingStatus, missing) = await Call(http, $"/api/sessions/{session.Id}/tools/call", new { name = "download_file", arguments = new { path = "nope.txt" } });
            Assert.Equal((HttpStatusCode.OK, true), (missingStatus, missing["is_error"]!.GetValue<bool>()));
            Assert.StartsWith("file_not_found", missing["content"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.NotFound, (await Call(http, "/api/tools/call", new { name = "rm_rf", arguments = new { } })).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Call(http, $"/api/sessions/{session.Id}/tools/call", new { name = "list_files", arguments = new { paht = "x" } })).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Call(http, "/api/tools/call", new { name = "list_files", arguments = new { } })).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Call(http, $"/api/sessions/{session.Id}/tools/call", new { name = "execute_code", arguments = "{not json" })).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Call(http, $"/api/sessions/{session.Id}/tools/call", new { name = "list_files", arguments = new { session_id = "another" } })).Status);
        }
        finally
        {
            await http.DeleteAsync($"/api/sessions/{session.Id}");
        }
    }
}
