using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Server;

namespace Sandbox.Server.Mcp;

/// <summary>
/// The MCP tools for agent frameworks that speak function calling instead of MCP: each tool's definition (the same
/// name, description and input schema MCP lists) in OpenAI's or Anthropic's shape, and a call by name that runs the
/// same tool method with the caller of the HTTP request. A session may be bound: its tools then lose the
/// <c>session_id</c> parameter and every call gets it.
/// </summary>
public sealed class ToolCatalog
{
    /// <summary>The tools a framework gets unless it names others: running code, files, search, processes and ports.</summary>
    public static readonly IReadOnlyList<string> CoreTools =
    [
        "execute_code", "upload_file", "download_file", "list_files", "search_code", "delete_file",
        "start_process", "get_process_output", "kill_process", "expose_port",
    ];

    private const string SessionParameter = "session_id";
    private readonly Dictionary<string, (McpServerTool Tool, MethodInfo Method)> _tools = new(StringComparer.Ordinal);

    /// <summary>Indexes the registered MCP tools by name with the methods behind them.</summary>
    public ToolCatalog(IEnumerable<McpServerTool> tools)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var methods = Microsoft.Extensions.DependencyInjection.SandboxMcpBuilderExtensions.ToolTypes
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<McpServerToolAttribute>()))
            .Where(m => m.Attribute?.Name is not null)
            .ToDictionary(m => m.Attribute!.Name!, m => m.Method, StringComparer.Ordinal);
        foreach (var tool in tools)
        {
            if (methods.TryGetValue(tool.ProtocolTool.Name, out var method))
            {
                _tools[tool.ProtocolTool.Name] = (tool, method);
            }
        }
    }

    /// <summary>Every tool's name.</summary>
    public IReadOnlyCollection<string> Names => _tools.Keys;

    /// <summary>The definitions of <paramref name="names"/> (null: <see cref="CoreTools"/>; <c>all</c>: every tool) in
    /// <paramref name="format"/> (<c>openai</c> or <c>anthropic</c>).</summary>
    /// <exception cref="SandboxException"><c>invalid_argument</c> for an unknown format or tool name.</exception>
    public JsonArray Definitions(string format, IReadOnlyList<string>? names, bool sessionBound)
    {
        if (format is not ("openai" or "anthropic"))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"format must be 'openai' or 'anthropic', not '{SafeText.Shorten(format, 40)}'.");
        }
        var chosen = names is ["all"] ? _tools.Keys.Order(StringComparer.Ordinal).ToList() : names ?? CoreTools;
        var list = new JsonArray();
        foreach (var name in chosen)
        {
            var tool = Find(name).Tool.ProtocolTool;
            var schema = JsonNode.Parse(tool.InputSchema.GetRawText())!.AsObject();
            if (sessionBound)
            {
                (schema["properties"] as JsonObject)?.Remove(SessionParameter);
                if (schema["required"] is JsonArray required)
                {
                    foreach (var item in required.Where(r => r?.GetValue<string>() == SessionParameter).ToList())
                    {
                        required.Remove(item);
                    }
                }
            }
            schema["additionalProperties"] = false;
            var description = tool.Description ?? tool.Title ?? name;
            list.Add(format == "openai"
                ? new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["description"] = description, ["parameters"] = schema } }
                : new JsonObject { ["name"] = name, ["description"] = description, ["input_schema"] = schema });
        }
        return list;
    }

    /// <summary>Runs tool <paramref name="name"/> with <paramref name="arguments"/> (an object) for the caller of
    /// <paramref name="services"/>' request, with <paramref name="session"/> as its <c>session_id</c> when bound.</summary>
    /// <exception cref="SandboxException"><c>not_found</c> for an unknown tool; <c>invalid_argument</c> for a missing,
    /// unknown or ill-typed argument.</exception>
    public async Task<CallToolResult> CallAsync(IServiceProvider services, string name, JsonObject arguments, string? session, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var (_, method) = Find(name);
        if (session is not null)
        {
            if (arguments[SessionParameter] is { } given && given.GetValueKind() == JsonValueKind.String && given.GetValue<string>() != session)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"These tools are bound to session {session}; session_id names another.");
            }
            arguments[SessionParameter] = session;
        }
        var parameters = method.GetParameters();
        var known = parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        if (arguments.Select(a => a.Key).FirstOrDefault(k => !known.Contains(k) || k is "context" or "cancellationToken") is { } unknown)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} has no argument '{SafeText.Shorten(unknown, 64)}'.");
        }
        var values = new object?[parameters.Length];
        for (var i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            values[i] = p.ParameterType == typeof(CancellationToken) ? ct
                : p.ParameterType == typeof(RequestContext<CallToolRequestParams>) ? null
                : arguments[p.Name!] is { } node && node.GetValueKind() != JsonValueKind.Null ? Convert(name, p, node)
                : p.HasDefaultValue ? p.DefaultValue
                : throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} needs the argument '{p.Name}'.");
        }
        var instance = ActivatorUtilities.CreateInstance(services, method.DeclaringType!);
        try
        {
            return await ((Task<CallToolResult>)method.Invoke(instance, values)!).ConfigureAwait(false);
        }
        finally
        {
            (instance as IDisposable)?.Dispose();
        }
    }

    private (McpServerTool Tool, MethodInfo Method) Find(string name) =>
        _tools.TryGetValue(name, out var found) ? found
        : throw new SandboxException(SandboxErrorCodes.ToolNotFound, $"There is no tool '{SafeText.Shorten(name, 64)}'. GET /api/tools/openai?tools=all lists them.");

    private static object? Convert(string tool, ParameterInfo p, JsonNode node)
    {
        try
        {
            return node.Deserialize(p.ParameterType, Client.Contracts.SandboxJson.Options);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException or FormatException)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{tool}: argument '{p.Name}' is not a valid {Describe(p.ParameterType)}.");
        }
    }

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t == typeof(string) ? "string" : t == typeof(bool) ? "boolean" : t.IsPrimitive ? "number"
            : t.IsArray ? "array" : t.IsGenericType ? "object" : t.Name;
    }
}
