namespace Sandbox.Client.Contracts;

/// <summary>One server of a cluster (<c>GET /api/cluster</c>).</summary>
/// <param name="Id">The node's id.</param>
/// <param name="State"><c>active</c>, <c>draining</c> (takes no new sessions) or <c>left</c>.</param>
/// <param name="Alive">Whether its heartbeat is recent.</param>
/// <param name="Sessions">Live sessions it holds.</param>
/// <param name="Capacity">The most sessions it takes.</param>
/// <param name="Images">Session images its engine has.</param>
/// <param name="LastSeen">Its last heartbeat.</param>
public sealed record ClusterNodeDto(string Id, string State, bool Alive, int Sessions, int Capacity, IReadOnlyList<string> Images, DateTimeOffset LastSeen);

/// <summary>The cluster as the answering node sees it.</summary>
/// <param name="Enabled">Whether this server is part of a cluster (false: a single server).</param>
/// <param name="Node">The answering node's id.</param>
/// <param name="Nodes">Every node known to the shared store.</param>
public sealed record ClusterDto(bool Enabled, string Node, IReadOnlyList<ClusterNodeDto> Nodes);
