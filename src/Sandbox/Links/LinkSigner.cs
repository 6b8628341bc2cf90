using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sandbox.Links;

/// <summary>What a link allows: one method on one path of one session, for its owner, until it expires.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Owner">The caller the link acts for.</param>
/// <param name="Path">Workspace-relative path.</param>
/// <param name="Method"><c>GET</c> or <c>PUT</c>.</param>
/// <param name="ExpiresAt">Unix seconds.</param>
/// <param name="Nonce">Random, unique per link.</param>
/// <param name="SingleUse">Whether it works once.</param>
internal sealed record LinkClaims(string SessionId, string Owner, string Path, string Method, long ExpiresAt, string Nonce, bool SingleUse);

/// <summary>Signs and verifies link tokens: base64url(claims JSON) "." base64url(HMAC-SHA256 of that text, with the
/// server's link key).</summary>
internal sealed class LinkSigner
{
    private readonly byte[] _key;

    public LinkSigner(byte[] key) => _key = key;

    /// <summary>Loads the key from <paramref name="path"/>, making one (readable by the server's user only) if absent.</summary>
    public static LinkSigner FromKeyFile(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            try
            {
                var fresh = RandomNumberGenerator.GetBytes(32);
                var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using (var f = new FileStream(path, create))
                {
                    f.Write(fresh);
                }
                return new LinkSigner(fresh);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Made before (or by another server process at the same moment): use it.
            }
            var key = File.ReadAllBytes(path);
            return key.Length >= 32
                ? new LinkSigner(key)
                : throw new SandboxException(SandboxErrorCodes.Internal, $"The link key file '{path}' holds fewer than 32 bytes; delete it to make a new key.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, $"The link key file '{path}' cannot be read or made: {e.Message}", e);
        }
    }

    public string Sign(LinkClaims claims)
    {
        var body = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(claims));
        return body + "." + Base64Url.EncodeToString(HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(body)));
    }

    /// <summary>The claims of a token whose signature holds; null otherwise (never says why: a forger learns nothing).</summary>
    public LinkClaims? Verify(string token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 8192)
        {
            return null;
        }
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == token.Length - 1)
        {
            return null;
        }
        var body = token[..dot];
        byte[] signature;
        try
        {
            signature = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
        }
        catch (FormatException)
        {
            return null;
        }
        var expected = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(body));
        if (!CryptographicOperations.FixedTimeEquals(expected, signature))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<LinkClaims>(Base64Url.DecodeFromChars(body));
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }
}
