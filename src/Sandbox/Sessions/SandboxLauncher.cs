using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Isolation;
using Sandbox.Runner;

namespace Sandbox.Sessions;

/// <summary>A started sandbox whose runner has said hello.</summary>
/// <param name="Id">The session id it was started for.</param>
/// <param name="ContainerId">The backend's id for it.</param>
/// <param name="Runner">The live connection to its runner.</param>
/// <param name="Isolation">The tier it runs in.</param>
internal sealed record LaunchedSandbox(string Id, string ContainerId, RunnerConnection Runner, IsolationTier Isolation);

/// <summary>Starts session sandboxes through the backend (for new sessions and for the warm pool) and resolves the
/// image names callers use.</summary>
public sealed class SandboxLauncher(ISandboxBackend backend, IOptions<SandboxOptions> options, TimeProvider time, ILogger<SandboxLauncher> logger)
{
    private readonly SandboxOptions _options = options.Value;

    /// <summary>The configured image a request names (the default when it names none), or an image reference one of
    /// <see cref="SandboxOptions.ImagePatterns"/> allows (its name is the reference), or <c>image_not_found</c>.</summary>
    public (string Name, string Reference) ResolveImage(string? requested)
    {
        var name = string.IsNullOrWhiteSpace(requested) ? _options.DefaultImage : requested.Trim();
        if (_options.Images.TryGetValue(name, out var reference))
        {
            return (name, reference);
        }
        if (ImageReferences.IsReference(name) && ImageReferences.Matches(name, _options.ImagePatterns))
        {
            return (name, name);
        }
        var patterns = _options.ImagePatterns.Count == 0 ? "" : $" Or an image matching: {string.Join(", ", _options.ImagePatterns)}.";
        throw new SandboxException(SandboxErrorCodes.ImageNotFound,
            $"Unknown image '{SafeText.Shorten(name)}'. Known images: {string.Join(", ", _options.Images.Keys.Order(StringComparer.Ordinal))}.{patterns}");
    }

    /// <summary>Whether a session image is one named by reference rather than a configured short name.</summary>
    public bool IsForeign(string image) => !_options.Images.ContainsKey(image);

    /// <summary>Creates, starts and connects to a sandbox within <see cref="SandboxOptions.CreateTimeout"/>; on any
    /// failure nothing is left behind.</summary>
    internal async Task<LaunchedSandbox> LaunchAsync(string image, SandboxLimits limits, string owner, IsolationTier tier, string? runtime, CancellationToken ct,
        IReadOnlyList<ContextMount>? context = null, bool callerContext = false, IReadOnlyList<Volumes.SandboxVolume>? volumes = null, int? dockerStorageMb = null)
    {
        var id = NewId();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            // The backend adds the rest (SandboxLabels.Of); the creation time is the engine's clock, not the backend's.
            [SandboxLabels.CreatedAt] = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            [SandboxLabels.Owner] = owner,
            [SandboxLabels.Image] = image,
            [SandboxLabels.Isolation] = IsolationPolicy.Name(tier),
        };
        var spec = new SandboxSpec(id, ResolveImage(image).Reference, limits, labels, tier, runtime, context, callerContext) { ForeignImage = IsForeign(image), Volumes = volumes ?? [], DockerStorageMb = dockerStorageMb };
        if (spec.ForeignImage)
        {
            // Before the create deadline: a pull may take minutes (bounded by ImagePullTimeout).
            await backend.PrepareForeignImageAsync(spec.ImageReference, ct).ConfigureAwait(false);
        }
        RunnerConnection? runner = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.CreateTimeout);
        try
        {
            var handle = await backend.CreateSandboxAsync(spec, timeout.Token).ConfigureAwait(false);
            runner = new RunnerConnection(handle.Runner, id, logger);
            await runner.WaitHelloAsync(timeout.Token).ConfigureAwait(false);
            return new LaunchedSandbox(id, handle.ContainerId, runner, tier);
        }
        catch (Exception e)
        {
            // A failed create cleans up after itself (ISandboxBackend's contract); a sandbox that started but never
            // said hello is ours to remove.
            if (runner is not null)
            {
                await runner.DisposeAsync().ConfigureAwait(false);
                await RemoveQuietlyAsync(id).ConfigureAwait(false);
            }
            if (e is OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new SandboxException(SandboxErrorCodes.Timeout,
                    $"The session did not start within {_options.CreateTimeout.TotalSeconds} s; nothing was left behind. Retry, or check the engine (see /healthz).", e);
            }
            throw;
        }
    }

    /// <summary>Removes a sandbox, logging (not throwing) when that fails.</summary>
    internal async Task RemoveQuietlyAsync(string sessionId)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await backend.RemoveSandboxAsync(sessionId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Cleanup after a failure: whatever the backend says, it is logged and the original error stands.
            SessionService.LogCleanupFailed(logger, sessionId, e.Message);
        }
    }

    /// <summary>128 random bits, base64url without padding (22 characters).</summary>
    internal static string NewId() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
