using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Server;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Mcp;

/// <summary>The MCP SDK builds a tool class for each call from the host's services: every tool and resource class of
/// the server must be buildable from what the host registers (a constructor the container cannot satisfy fails every
/// call of every tool in the class, with no useful error on the wire).</summary>
[Collection(ServerCollection.Name)]
public sealed class McpCompositionTests(ServerFixture server)
{
    [Fact]
    public void Every_tool_and_resource_class_is_built_from_the_host_services()
    {
        var types = typeof(Sandbox.Server.Mcp.SandboxToolsBase).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<McpServerToolTypeAttribute>() is not null || t.GetCustomAttribute<McpServerResourceTypeAttribute>() is not null)
            .ToList();
        Assert.True(types.Count >= 10, $"found {types.Count} tool classes");
        using var scope = server.App.Services.CreateScope();
        foreach (var type in types)
        {
            Assert.NotNull(ActivatorUtilities.CreateInstance(scope.ServiceProvider, type));
        }
    }
}
