using System.Globalization;
using System.Net;

namespace Sandbox.Egress;

/// <summary>
/// One entry of an allow list: a host (<c>api.example.com</c>; <c>*.example.com</c> for its subdomains, not the name
/// itself; <c>*</c> for any name) and a port (none: 80 and 443; a number; <c>*</c>: any). Names only: an IP address is
/// never a pattern, and the proxy refuses IP literals whatever the list says.
/// </summary>
public sealed record EgressPattern
{
    private EgressPattern(string host, int? port, bool anyPort)
    {
        Host = host;
        Port = port;
        AnyPort = anyPort;
    }

    /// <summary>The host part, lower case.</summary>
    public string Host { get; }

    /// <summary>The one port, or null for the web's default ports (80 and 443) or any port (<see cref="AnyPort"/>).</summary>
    public int? Port { get; }

    /// <summary>Whether any port is allowed.</summary>
    public bool AnyPort { get; }

    /// <summary>Parses a pattern; the error says what is wrong.</summary>
    public static bool TryParse(string? text, out EgressPattern pattern, out string error)
    {
        pattern = null!;
        error = "";
        var value = (text ?? "").Trim().ToLowerInvariant();
        if (value.Length == 0 || value.Length > 260)
        {
            error = "an empty or over-long pattern";
            return false;
        }
        if (value.Contains("://", StringComparison.Ordinal) || value.Contains('/', StringComparison.Ordinal))
        {
            error = "a host pattern, not a URL (write 'api.example.com', not 'https://api.example.com/')";
            return false;
        }
        string host = value;
        int? port = null;
        var anyPort = false;
        var colon = value.LastIndexOf(':');
        if (colon >= 0)
        {
            host = value[..colon];
            var portText = value[(colon + 1)..];
            if (portText == "*")
            {
                anyPort = true;
            }
            else if (int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536)
            {
                port = p;
            }
            else
            {
                error = $"'{portText}' is not a port (1-65535 or *)";
                return false;
            }
        }
        host = host.TrimEnd('.');
        if (IPAddress.TryParse(host.Trim('[', ']'), out _) || host.Contains(':', StringComparison.Ordinal))
        {
            error = "IP addresses are not allowed, only host names";
            return false;
        }
        var name = host == "*" ? "" : host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        if (host != "*" && !IsHostName(name))
        {
            error = "a host name of letters, digits, '-' and '.', optionally starting with '*.'";
            return false;
        }
        pattern = new EgressPattern(host, port, anyPort);
        return true;
    }

    /// <summary>Parses a pattern or throws <c>invalid_argument</c>.</summary>
    public static EgressPattern Parse(string? text) => TryParse(text, out var pattern, out var error)
        ? pattern
        : throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Network allow entry '{SafeText.Shorten(text ?? "", 100)}': {error}.");

    /// <summary>Whether <paramref name="name"/> is a DNS host name (lower case labels of letters, digits and '-', not all digits at the end).</summary>
    public static bool IsHostName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }
        var labels = name.Split('.');
        if (labels.Any(l => l.Length is 0 or > 63 || l[0] == '-' || l[^1] == '-' || !l.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')))
        {
            return false;
        }
        // A last label of digits (or 0x…) reads as an address to resolvers (127.1, 2130706433).
        return !labels[^1].All(char.IsAsciiDigit) && !labels[^1].StartsWith("0x", StringComparison.Ordinal);
    }

    /// <summary>Whether a secret's name is well formed.</summary>
    public static bool IsSecretName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Whether this pattern allows everything <paramref name="other"/> allows (the ceiling check).</summary>
    public bool Covers(EgressPattern other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return CoversHost(other.Host) && CoversPort(other);
    }

    /// <summary>Whether this pattern allows <paramref name="host"/> on <paramref name="port"/>.</summary>
    public bool Matches(string host, int port) => CoversHost(host) && (AnyPort || (Port is { } p ? p == port : port is 80 or 443));

    private bool CoversHost(string host)
    {
        if (Host == "*")
        {
            return true;
        }
        if (host == "*")
        {
            return false;
        }
        if (Host.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = Host[1..]; // ".example.com"
            var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[1..] : host;
            return name.EndsWith(suffix, StringComparison.Ordinal) && (name.Length > suffix.Length || host.StartsWith("*.", StringComparison.Ordinal));
        }
        return Host == host;
    }

    private bool CoversPort(EgressPattern other)
    {
        if (AnyPort)
        {
            return true;
        }
        if (other.AnyPort)
        {
            return false;
        }
        return Port is { } mine ? other.Port == mine : other.Port is null or 80 or 443;
    }

    /// <inheritdoc />
    public override string ToString() => Host + (AnyPort ? ":*" : Port is { } p ? ":" + p.ToString(CultureInfo.InvariantCulture) : "");
}
