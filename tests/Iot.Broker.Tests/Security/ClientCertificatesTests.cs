using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

public sealed class ClientCertificatesTests
{
    [Fact]
    public void TryGetIdentityId_OneCommonName_IsTheIdentity()
    {
        using var certificate = Create(new X500DistinguishedName("CN=dev-a, O=Acme"), ClientCertificates.ClientAuthenticationOid);
        Assert.True(ClientCertificates.TryGetIdentityId(certificate, out var id, out _));
        Assert.Equal("dev-a", id);
    }

    [Fact]
    public void TryGetIdentityId_TwoCommonNames_IsRefused()
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName("dev-a");
        builder.AddCommonName("backend");
        using var certificate = Create(builder.Build(), ClientCertificates.ClientAuthenticationOid);

        Assert.False(ClientCertificates.TryGetIdentityId(certificate, out _, out var problem));
        Assert.Contains("2 subject common names", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TryGetIdentityId_TwoCommonNamesInOneMultiValuedRdn_IsRefused()
    {
        // SEQUENCE { SET { CN=dev-a, CN=backend } }: one RDN with two values.
        byte[] dev = [0x30, 0x0E, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0C, 0x07, .. "backend"u8];
        byte[] backend = [0x30, 0x0C, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0C, 0x05, .. "dev-a"u8];
        byte[] set = [0x31, (byte)(dev.Length + backend.Length), .. backend, .. dev];
        using var certificate = Create(new X500DistinguishedName([0x30, (byte)set.Length, .. set]), null);

        Assert.False(ClientCertificates.TryGetIdentityId(certificate, out _, out var problem));
        Assert.Contains("2 subject common names", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TryGetIdentityId_NoCommonName_IsRefused()
    {
        using var certificate = Create(new X500DistinguishedName("O=Acme, OU=dev-a"), null);
        Assert.False(ClientCertificates.TryGetIdentityId(certificate, out _, out var problem));
        Assert.Equal("client certificate has no subject common name", problem);
    }

    [Fact]
    public void TryGetIdentityId_ExtendedKeyUsageWithoutClientAuth_IsRefused_WithoutEkuIsAccepted()
    {
        using var serverOnly = Create(new X500DistinguishedName("CN=dev-a"), "1.3.6.1.5.5.7.3.1");
        using var none = Create(new X500DistinguishedName("CN=dev-a"), null);

        Assert.False(ClientCertificates.TryGetIdentityId(serverOnly, out _, out var problem));
        Assert.Contains("Extended Key Usage", problem, StringComparison.Ordinal);
        Assert.True(ClientCertificates.TryGetIdentityId(none, out var id, out _));
        Assert.Equal("dev-a", id);
    }

    private static X509Certificate2 Create(X500DistinguishedName subject, string? usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (usage is not null)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        }

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    }
}
