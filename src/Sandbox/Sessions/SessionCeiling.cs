using System.Globalization;
using Microsoft.Extensions.Options;
using Sandbox.Backend;

namespace Sandbox.Sessions;

/// <summary>
/// The highest limits a session may ask for: <see cref="SandboxOptions.MaxLimits"/>, lowered to what the engine's machine
/// has when <see cref="SandboxOptions.CeilingFromHost"/> is on (its cores, and its memory less
/// <see cref="SandboxOptions.HostReserveMemoryMb"/>), so a 4-core, 8 GiB request works on a machine that has them and is
/// refused naming the machine's figures where it has not. The machine is asked once; a failed question is asked again.
/// </summary>
public sealed class SessionCeiling(ISandboxBackend backend, IOptions<SandboxOptions> options)
{
    private readonly SandboxOptions _options = options.Value;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Ceiling? _known;

    /// <summary>The maxima in force and, when the machine lowered them, why (for messages).</summary>
    /// <param name="Maxima">The highest limits a request may have.</param>
    /// <param name="Reason">The machine's figures when they set a maximum; null when only configuration did.</param>
    public sealed record Ceiling(SandboxLimits Maxima, string? Reason);

    /// <summary>The ceiling for this server's engine.</summary>
    public async Task<Ceiling> GetAsync(CancellationToken ct)
    {
        if (!_options.CeilingFromHost)
        {
            return new Ceiling(_options.MaxLimits, null);
        }
        if (_known is { } known)
        {
            return known;
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_known is null)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                var host = await backend.GetHostResourcesAsync(timeout.Token).ConfigureAwait(false);
                _known = From(_options.MaxLimits, host, _options.HostReserveMemoryMb);
            }
            return _known;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Lowers <paramref name="configured"/> to <paramref name="host"/>'s cores and memory less the reserve
    /// (never below 256 MiB and a quarter core, so a tiny machine still runs small sessions).</summary>
    public static Ceiling From(SandboxLimits configured, HostResources host, int reserveMemoryMb)
    {
        ArgumentNullException.ThrowIfNull(configured);
        ArgumentNullException.ThrowIfNull(host);
        var hostMb = (int)Math.Min(int.MaxValue, host.MemoryBytes / (1024 * 1024));
        var memory = Math.Max(256, hostMb - reserveMemoryMb);
        var cpus = Math.Max(0.25, host.Cpus);
        if (memory >= configured.MemoryMb && cpus >= configured.Cpus)
        {
            return new Ceiling(configured, null);
        }
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"this machine has {host.Cpus} cores and {hostMb} MiB of memory, of which {reserveMemoryMb} MiB is kept for the host");
        return new Ceiling(configured with { MemoryMb = Math.Min(configured.MemoryMb, memory), Cpus = Math.Min(configured.Cpus, cpus) }, reason);
    }
}
