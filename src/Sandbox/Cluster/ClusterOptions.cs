using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Sandbox.Cluster;

/// <summary>Several servers sharing one store (<c>Sandbox:Cluster</c>): each drives its own node's engine, records where
/// its sessions live, and forwards a request for another node's session to that node.</summary>
public sealed class ClusterOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Cluster";

    /// <summary>Join a cluster: heartbeats, placement of new sessions and forwarding. Needs a shared store
    /// (<c>Sandbox:Durability:Store=Postgres</c>, or SQLite for servers on one machine).</summary>
    public bool Enabled { get; set; }

    /// <summary>The URL the other nodes reach this one at, e.g. <c>http://{ip}:8080</c>: <c>{ip}</c> is replaced by this
    /// machine's address inside <see cref="AdvertiseSubnet"/> (or the first address its host name resolves to).</summary>
    public string AdvertiseUrl { get; set; } = "http://{ip}:8080";

    /// <summary>The network (CIDR, e.g. <c>10.231.0.0/24</c>) whose address <c>{ip}</c> stands for; empty: the host name's address.</summary>
    public string? AdvertiseSubnet { get; set; }

    /// <summary>How often a node writes its heartbeat (and looks at the others').</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A node silent this long has left: its sessions are reported lost, by whichever node notices first.</summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest a forwarded request may take to get its answer's headers (streams then run as long as they need).</summary>
    public TimeSpan ForwardTimeout { get; set; } = TimeSpan.FromMinutes(65);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled)
        {
            yield break;
        }
        if (!Uri.TryCreate(AdvertiseUrl.Replace("{ip}", "127.0.0.1", StringComparison.Ordinal), UriKind.Absolute, out var url)
            || url.Scheme is not ("http" or "https"))
        {
            yield return new($"AdvertiseUrl '{AdvertiseUrl}' is not an http(s) URL.", [nameof(AdvertiseUrl)]);
        }
        if (!string.IsNullOrEmpty(AdvertiseSubnet) && !IPNetwork.TryParse(AdvertiseSubnet, out _))
        {
            yield return new($"AdvertiseSubnet '{AdvertiseSubnet}' is not a network like 10.231.0.0/24.", [nameof(AdvertiseSubnet)]);
        }
        if (HeartbeatInterval <= TimeSpan.Zero || NodeTimeout < HeartbeatInterval * 2)
        {
            yield return new("HeartbeatInterval must be positive and NodeTimeout at least twice as long.", [nameof(NodeTimeout)]);
        }
        if (ForwardTimeout <= TimeSpan.Zero)
        {
            yield return new("ForwardTimeout must be positive.", [nameof(ForwardTimeout)]);
        }
    }

    /// <summary>The advertised URL with <c>{ip}</c> resolved.</summary>
    public Uri ResolveAdvertiseUrl()
    {
        if (!AdvertiseUrl.Contains("{ip}", StringComparison.Ordinal))
        {
            return new Uri(AdvertiseUrl);
        }
        var subnet = string.IsNullOrEmpty(AdvertiseSubnet) ? (IPNetwork?)null : IPNetwork.Parse(AdvertiseSubnet);
        var candidates = subnet is { } net
            ? System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address).Where(net.Contains)
            : Dns.GetHostAddresses(Dns.GetHostName()).Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        var ip = candidates.FirstOrDefault() ?? throw new SandboxException(SandboxErrorCodes.Internal,
            subnet is null ? "Sandbox:Cluster:AdvertiseUrl uses {ip} but this host's name resolves to no address other nodes can reach; set AdvertiseSubnet or a literal URL."
                : $"Sandbox:Cluster:AdvertiseUrl uses {{ip}} but this machine has no address in {AdvertiseSubnet}.");
        var host = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
        return new Uri(AdvertiseUrl.Replace("{ip}", host, StringComparison.Ordinal));
    }
}
