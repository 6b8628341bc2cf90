using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;

namespace Sandbox.Isolation;

/// <summary>What the server can offer: the default tier in force and whether gVisor is there.</summary>
/// <param name="Default">The tier a session that asks for none gets (after any fallback).</param>
/// <param name="Configured">The configured default tier.</param>
/// <param name="Available">The tiers this engine can run.</param>
/// <param name="Required">Whether the configured default is required (no fallback).</param>
/// <param name="Problem">Why the configured default cannot be had, or null.</param>
public sealed record IsolationStatus(IsolationTier Default, IsolationTier Configured, IReadOnlyList<IsolationTier> Available, bool Required, string? Problem);

/// <summary>
/// Chooses each session's tier and runtime: the tier it asks for, else its image's default, else the server's.
/// A named tier is never replaced; an unnamed default that the engine cannot run falls back to the container tier
/// (said in the session's info, in health and in the log) unless <see cref="IsolationOptions.Required"/>.
/// </summary>
public sealed partial class IsolationPolicy(ISandboxBackend backend, IOptions<IsolationOptions> options, ILogger<IsolationPolicy> logger)
{
    private readonly IsolationOptions _options = options.Value;
    private volatile IReadOnlySet<string>? _runtimes;

    /// <summary>Parses a tier a caller named (<c>gvisor</c> or <c>container</c>); null when none was named.</summary>
    public static IsolationTier? Parse(string? requested) => requested?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "gvisor" or "runsc" => IsolationTier.Gvisor,
        "container" or "runc" => IsolationTier.Container,
        _ => throw new SandboxException(SandboxErrorCodes.InvalidArgument,
            $"Unknown isolation '{SafeText.Shorten(requested)}'. Use 'gvisor' (a kernel of its own, the default where installed) or 'container'."),
    };

    /// <summary>The wire name of a tier.</summary>
    public static string Name(IsolationTier tier) => tier == IsolationTier.Gvisor ? "gvisor" : "container";

    /// <summary>Learns which runtimes the engine has (at start; again whenever health is asked).</summary>
    public async Task<IsolationStatus> RefreshAsync(CancellationToken ct)
    {
        var before = _runtimes;
        _runtimes = await backend.GetRuntimesAsync(ct).ConfigureAwait(false);
        var status = Status();
        if (status.Problem is { } problem && (before is null || before.Contains(_options.GvisorRuntime) != _runtimes.Contains(_options.GvisorRuntime)))
        {
            LogUnavailable(logger, problem);
        }
        return status;
    }

    /// <summary>The status, learning the engine's runtimes first if nothing was learned yet.</summary>
    public async Task<IsolationStatus> GetStatusAsync(CancellationToken ct) =>
        _runtimes is null ? await RefreshAsync(ct).ConfigureAwait(false) : Status();

    /// <summary>The status as last learned (the container tier only, before anything was learned).</summary>
    public IsolationStatus Status()
    {
        var available = Available().ToList();
        var problem = available.Contains(_options.Default) ? null
            : $"The default isolation '{Name(_options.Default)}' needs the engine runtime '{RuntimeName(_options.Default)}', which it does not have; "
              + (_options.Required ? "sessions are refused (Sandbox:Isolation:Required)." : "sessions run in the container tier instead.")
              + " Run deploy/ensure-engine.sh as root to install and register gVisor, or set Sandbox:Isolation:Default=Container.";
        var effective = available.Contains(_options.Default) || _options.Required ? _options.Default : IsolationTier.Container;
        return new IsolationStatus(effective, _options.Default, available, _options.Required, problem);
    }

    /// <summary>The tier and runtime for a new session of <paramref name="image"/>.</summary>
    public async Task<(IsolationTier Tier, string? Runtime)> ResolveAsync(IsolationTier? requested, string image, CancellationToken ct)
    {
        if (_runtimes is null)
        {
            await RefreshAsync(ct).ConfigureAwait(false);
        }
        var available = Available().ToList();
        if (requested is { } named)
        {
            return available.Contains(named) ? (named, Runtime(named))
                : throw new SandboxException(SandboxErrorCodes.IsolationUnavailable,
                    $"This server cannot run '{Name(named)}' sessions: the engine has no runtime '{RuntimeName(named)}'. Ask for another isolation or none, or ask the operator to run deploy/ensure-engine.sh.");
        }
        var tier = _options.Images.TryGetValue(image, out var forImage) ? forImage : _options.Default;
        if (available.Contains(tier))
        {
            return (tier, Runtime(tier));
        }
        if (_options.Required)
        {
            throw new SandboxException(SandboxErrorCodes.IsolationUnavailable,
                $"This server requires '{Name(tier)}' isolation, but the engine has no runtime '{RuntimeName(tier)}'. The operator must run deploy/ensure-engine.sh (see /healthz).");
        }
        return (IsolationTier.Container, Runtime(IsolationTier.Container));
    }

    private IEnumerable<IsolationTier> Available()
    {
        var runtimes = _runtimes ?? new HashSet<string>();
        if (string.IsNullOrWhiteSpace(_options.ContainerRuntime) || runtimes.Contains(_options.ContainerRuntime))
        {
            yield return IsolationTier.Container;
        }
        if (runtimes.Contains(_options.GvisorRuntime))
        {
            yield return IsolationTier.Gvisor;
        }
    }

    private string? Runtime(IsolationTier tier) => tier == IsolationTier.Gvisor ? _options.GvisorRuntime
        : string.IsNullOrWhiteSpace(_options.ContainerRuntime) ? null : _options.ContainerRuntime;

    private string RuntimeName(IsolationTier tier) => Runtime(tier) ?? "runc";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Isolation: {Problem}")]
    private static partial void LogUnavailable(ILogger logger, string problem);
}
