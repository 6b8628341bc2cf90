using System.Text.Json;
using System.Text.Json.Serialization;
using Sandbox.Agents;

namespace Sandbox.Storage;

/// <summary>Helpers the stores share for agent runs.</summary>
internal static class AgentRunStore
{
    /// <summary>How runs are serialized in a store.</summary>
    public static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>A run without its bulky parts (trajectory, steps, diff), for listings.</summary>
    public static AgentRun Summary(AgentRun run) => run with { Trajectory = [], Steps = [], Diff = "", Stderr = "" };

    /// <summary>A run the server stopped during, as failed.</summary>
    public static AgentRun Interrupted(AgentRun run, string reason, DateTimeOffset at) => run with
    {
        Status = AgentRunStatus.Failed, Error = reason, EndedAt = at,
    };
}
