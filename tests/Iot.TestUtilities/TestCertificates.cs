using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Iot.TestUtilities;

/// <summary>Throw-away certificates for TLS listener tests.</summary>
public static class TestCertificates
{
    /// <summary>
    /// A self-signed server certificate for 127.0.0.1 and localhost, valid for a day, with its RSA key. It is marked as
    /// a CA, so that the same certificate exported as PEM can be a client's trust anchor (mosquitto's <c>--cafile</c>).
    /// </summary>
    public static X509Certificate2 CreateSelfSignedServer()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
