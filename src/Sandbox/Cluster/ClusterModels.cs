using Sandbox.Sessions;

namespace Sandbox.Cluster;

/// <summary>Whether a node takes new sessions.</summary>
public enum NodeState
{
    /// <summary>Serves its sessions and takes new ones.</summary>
    Active,
    /// <summary>Serves its sessions until they end; new sessions go elsewhere.</summary>
    Draining,
    /// <summary>Shut down on purpose; its sessions were closed or kept for its return.</summary>
    Left,
}

/// <summary>A server of the cluster as the shared store knows it: written by the node itself at every heartbeat.</summary>
/// <param name="Id">The node's id (its <see cref="SandboxOptions.InstanceId"/>).</param>
/// <param name="Url">Where the other nodes reach it (its advertised URL).</param>
/// <param name="State">Whether it takes new sessions.</param>
/// <param name="StartedAt">When this run of the node started.</param>
/// <param name="LastSeen">Its last heartbeat (its own clock; nodes are expected to keep time with NTP).</param>
/// <param name="Sessions">Live sessions it holds.</param>
/// <param name="Capacity">The most sessions it takes (<see cref="SandboxOptions.MaxSessions"/>).</param>
/// <param name="Images">The session images (short names) its engine has.</param>
public sealed record NodeRecord(
    string Id, string Url, NodeState State, DateTimeOffset StartedAt, DateTimeOffset LastSeen, int Sessions, int Capacity,
    IReadOnlyList<string> Images);

/// <summary>Where a session lives, from the shared store.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Node">The node that holds its sandbox.</param>
/// <param name="Owner">The caller that owns it.</param>
/// <param name="Status">Its state as last recorded.</param>
/// <param name="LostReason">Why it is lost, when it is.</param>
public sealed record SessionPlace(string SessionId, string Node, string Owner, SessionStatus Status, string? LostReason);
