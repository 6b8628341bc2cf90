using System.Buffers.Text;
using System.Globalization;

namespace Sandbox.Ports;

/// <summary>
/// The host name a preview answers on: <c>{port}-{session}.{domain}</c>, one origin per session and port, so a page a
/// session serves shares its origin with nothing else (not the API, not the dashboard, not another preview). The
/// session's id goes in as lower-case hex of its 16 bytes, because host names ignore case and take no <c>_</c>.
/// </summary>
public static class PreviewHost
{
    /// <summary>The first label of the preview host of <paramref name="port"/> of session <paramref name="sessionId"/>.</summary>
    public static string Label(string sessionId, int port)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        Span<byte> bytes = stackalloc byte[16];
        if (sessionId.Length != 22 || !Base64Url.IsValid(sessionId) || !Base64Url.TryDecodeFromChars(sessionId, bytes, out var n) || n != 16
            || Base64Url.EncodeToString(bytes) != sessionId)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Session id '{SafeText.Shorten(sessionId, 40)}' cannot name a preview host.");
        }
        return port.ToString(CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(bytes);
    }

    /// <summary>Reads the session and port out of a host name (port suffix allowed) under <paramref name="domain"/>;
    /// false for any other host.</summary>
    public static bool TryParse(string host, string domain, out string sessionId, out int port)
    {
        sessionId = "";
        port = 0;
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(domain);
        var name = host;
        var colon = name.LastIndexOf(':');
        if (colon >= 0 && !name.EndsWith(']'))
        {
            name = name[..colon];
        }
        var suffix = "." + domain;
        if (!name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var label = name[..^suffix.Length];
        var dash = label.IndexOf('-', StringComparison.Ordinal);
        if (dash is < 1 or > 5 || label.Length - dash - 1 != 32
            || !int.TryParse(label.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            port = 0;
            return false;
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(label.AsSpan(dash + 1));
        }
        catch (FormatException)
        {
            port = 0;
            return false;
        }
        sessionId = Base64Url.EncodeToString(bytes);
        return true;
    }
}

/// <summary>A short-lived grant that opens one preview (one port of one session) for its holder, and nothing else.</summary>
/// <param name="Token">The signed grant.</param>
/// <param name="SessionId">The session.</param>
/// <param name="Port">The port.</param>
/// <param name="HostLabel">The first label of the preview's host name (<see cref="PreviewHost.Label"/>).</param>
/// <param name="ExpiresAt">When it stops opening the preview.</param>
public sealed record PreviewGrant(string Token, string SessionId, int Port, string HostLabel, DateTimeOffset ExpiresAt);
