using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sandbox.Egress;

/// <summary>
/// A session's own certificate authority, made in memory for one egress proxy: its certificate is what the sandbox
/// trusts (and all it learns); it signs one leaf per host that carries a secret, for the proxy to terminate TLS with.
/// The authority's private key is dropped as soon as the leaves are signed: nothing, not even the proxy, can sign
/// another certificate with it, and no other sandbox trusts it.
/// </summary>
internal static class SessionCertificates
{
    /// <summary>A leaf certificate and its private key, PEM.</summary>
    internal sealed record Leaf(string Host, string CertificatePem, string KeyPem);

    /// <summary>Makes the authority and a leaf for each host; returns the authority's certificate (PEM) and the leaves.</summary>
    public static (string CaPem, IReadOnlyList<Leaf> Leaves) Create(string sessionId, IEnumerable<string> hosts, TimeSpan lifetime)
    {
        var notBefore = DateTimeOffset.UtcNow.AddHours(-1);
        var notAfter = DateTimeOffset.UtcNow + lifetime + TimeSpan.FromDays(1);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN=Sandbox session {sessionId} egress CA, O=Sandbox", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter);
        var leaves = new List<Leaf>();
        foreach (var host in hosts.Distinct(StringComparer.Ordinal))
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName(host);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
            var serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7f;
            using var leaf = request.Create(ca, notBefore, notAfter, serial);
            leaves.Add(new Leaf(host, leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem()));
        }
        return (ca.ExportCertificatePem(), leaves);
    }
}
