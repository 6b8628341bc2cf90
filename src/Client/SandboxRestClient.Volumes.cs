using Sandbox.Client.Contracts;
using static Sandbox.Client.RestTransport;

namespace Sandbox.Client;

/// <summary>The volumes area of the REST client.</summary>
public sealed partial class SandboxRestClient
{
    /// <inheritdoc />
    public Task<VolumeDto> CreateVolumeAsync(string name, int? sizeMb = null, CancellationToken cancellationToken = default) =>
        _api.PostAsync<VolumeDto>("api/volumes", new CreateVolumeRequest(name, sizeMb), cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<VolumeDto>> ListVolumesAsync(CancellationToken cancellationToken = default) =>
        await _api.GetAsync<List<VolumeDto>>("api/volumes", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public Task DeleteVolumeAsync(string name, bool force = false, CancellationToken cancellationToken = default) =>
        _api.DeleteAsync($"api/volumes/{Escape(name)}{(force ? "?force=true" : "")}", cancellationToken);

    /// <inheritdoc />
    public Task<SessionDto> LoadDockerImageAsync(string sessionId, string image, CancellationToken cancellationToken = default) =>
        _api.PostAsync<SessionDto>($"api/sessions/{Escape(sessionId)}/docker/images", new LoadDockerImageRequest(image), cancellationToken);
}
