using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>The volumes area of the MCP client.</summary>
public sealed partial class SandboxMcpClient
{
    /// <inheritdoc />
    public Task<VolumeDto> CreateVolumeAsync(string name, int? sizeMb = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<VolumeDto>("create_volume", new() { ["name"] = name, ["size_mb"] = sizeMb }, "volume", cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<VolumeDto>> ListVolumesAsync(CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<VolumeDto>>("list_volumes", new(), "volumes", cancellationToken);

    /// <inheritdoc />
    public Task DeleteVolumeAsync(string name, bool force = false, CancellationToken cancellationToken = default) =>
        _tools.CallAsync("delete_volume", new() { ["name"] = name, ["force"] = force }, cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> LoadDockerImageAsync(string sessionId, string image, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionDto>("docker_load_image", new() { ["session_id"] = sessionId, ["image"] = image }, "session", cancellationToken);
}
