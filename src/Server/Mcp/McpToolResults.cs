using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Sandbox.Client.Contracts;
using Sandbox.Server.Contracts;
using Sandbox.Server.Mcp;

namespace Sandbox.Server.Mcp
{
    /// <summary>The one mapping of engine results and errors to MCP tool results, shared by every tool class: text for
    /// the model plus structured content; a <see cref="SandboxException"/> becomes a tool error with its stable code.</summary>
    internal static partial class McpToolResults
    {
        /// <summary>Runs a tool body; engine errors become tool errors, anything else is logged and rethrown.</summary>
        public static async Task<CallToolResult> RunAsync(ILogger logger, Func<Task<CallToolResult>> body)
        {
            try
            {
                return await body();
            }
            catch (SandboxException e)
            {
                return Error(e);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogToolFailed(logger, e);
                throw;
            }
        }

        /// <summary>An engine error as a tool error with its stable code.</summary>
        public static CallToolResult Error(SandboxException e)
        {
            ArgumentNullException.ThrowIfNull(e);
            var error = e.ToError();
            return new CallToolResult
            {
                IsError = true,
                Content = [new TextContentBlock { Text = $"{e.Code}: {e.Message}" }],
                StructuredContent = JsonSerializer.SerializeToElement(new { error }, SandboxJson.Options),
            };
        }

        /// <summary>A text result with structured content.</summary>
        public static CallToolResult Ok(string text, object structured) => Result([new TextContentBlock { Text = text }], structured);

        /// <summary>A result of several content blocks with structured content.</summary>
        public static CallToolResult Result(IList<ContentBlock> content, object structured) => new()
        {
            Content = content,
            StructuredContent = JsonSerializer.SerializeToElement(structured, SandboxJson.Options),
        };

        [LoggerMessage(Level = LogLevel.Error, Message = "MCP tool failed unexpectedly")]
        private static partial void LogToolFailed(ILogger logger, Exception exception);
    }
}

namespace Microsoft.Extensions.DependencyInjection
{
    /// <summary>Registers the MCP face.</summary>
    public static class SandboxMcpBuilderExtensions
    {
        /// <summary>Every class of sandbox tools, as <see cref="WithSandboxTools"/> adds them (the function-calling face
        /// finds the methods behind the tools here).</summary>
        public static IReadOnlyList<Type> ToolTypes { get; } =
        [
            typeof(SessionTools), typeof(PortTools), typeof(NetworkTools), typeof(TerminalTools), typeof(ExecutionTools), typeof(ProcessTools),
            typeof(SnapshotTools), typeof(GitTools), typeof(FileTools), typeof(ArchiveTools), typeof(JobTools), typeof(PackageTools), typeof(AgentTools), typeof(VolumeTools),
            typeof(DockerTools),
        ];

        /// <summary>Adds every sandbox tool, grouped by area like the REST endpoints, and the workspace resources.</summary>
        public static IMcpServerBuilder WithSandboxTools(this IMcpServerBuilder builder) => builder
            .WithTools<SessionTools>()
            .WithTools<PortTools>()
            .WithTools<NetworkTools>()
            .WithTools<TerminalTools>()
            .WithTools<ExecutionTools>()
            .WithTools<ProcessTools>()
            .WithTools<SnapshotTools>()
            .WithTools<GitTools>()
            .WithResources<WorkspaceResources>()
            .WithTools<FileTools>()
            .WithTools<ArchiveTools>()
            .WithTools<JobTools>()
            .WithTools<PackageTools>()
            .WithTools<AgentTools>()
            .WithTools<VolumeTools>()
            .WithTools<DockerTools>();
    }
}
