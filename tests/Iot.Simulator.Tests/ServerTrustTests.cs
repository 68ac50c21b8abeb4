using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.Simulator.CommandLine;

namespace Iot.Simulator.Tests;

public sealed class ServerTrustTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iot-sim-trust").FullName;

    [Fact]
    public void Parse_CaFile_TrustsOnlyThatCaAndStillChecksTheName()
    {
        using var trusted = SelfSigned("CN=trusted");
        using var other = SelfSigned("CN=other");
        var path = Path.Combine(_dir, "ca.pem");
        File.WriteAllText(path, trusted.ExportCertificatePem());

        var (options, errors) = SimulatorCommand.Parse("--broker", "wss://127.0.0.1:8443/mqtt", "--ca-file", path);

        Assert.Empty(errors);
        var trust = options!.Trust;
        Assert.True(trust.IsCustom);
        Assert.False(trust.Insecure);
        Assert.True(trust.Accepts(trusted, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(trust.Accepts(other, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(trust.Accepts(trusted, null, SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.False(trust.Accepts(null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void Parse_NoTlsOption_SystemTrustAcceptsOnlyWhatThePlatformAccepts()
    {
        using var certificate = SelfSigned("CN=any");
        var (options, _) = SimulatorCommand.Parse();

        Assert.False(options!.Trust.IsCustom);
        Assert.True(options.Trust.Accepts(certificate, null, SslPolicyErrors.None));
        Assert.False(options.Trust.Accepts(certificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(SimulatorCommand.Parse("--insecure").Options!.Trust.Accepts(certificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void Parse_CaFileMissingOrNotACertificate_ErrorNamesTheOption()
    {
        var missing = Path.Combine(_dir, "missing.pem");
        var junk = Path.Combine(_dir, "junk.pem");
        File.WriteAllText(junk, "not a certificate");

        Assert.Contains(SimulatorCommand.Parse("--ca-file", missing).Errors, e => e.Contains("--ca-file", StringComparison.Ordinal) && e.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(SimulatorCommand.Parse("--ca-file", junk).Errors, e => e.Contains("--ca-file", StringComparison.Ordinal) && e.Contains("no certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_CaFileAndInsecure_Rejected()
    {
        using var ca = SelfSigned("CN=ca");
        var path = Path.Combine(_dir, "both.pem");
        File.WriteAllText(path, ca.ExportCertificatePem());

        var (options, errors) = SimulatorCommand.Parse("--ca-file", path, "--insecure");

        Assert.Null(options);
        Assert.Contains(errors, e => e.Contains("not both", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static X509Certificate2 SelfSigned(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
