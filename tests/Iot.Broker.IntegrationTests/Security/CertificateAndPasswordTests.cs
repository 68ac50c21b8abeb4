using System.Security.Cryptography.X509Certificates;
using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, findings 4 and 16, with openssl-made certificates over a real TLS connection: a client certificate names
/// an identity only by exactly one CN, and only when its Extended Key Usage (if any) allows client authentication;
/// a password with a trailing NUL is not the password.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CertificateAndPasswordTests
{
    private static readonly TimeSpan OpenSslTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ClientCertificate_TwoCommonNamesNoneOrNoClientAuthUsage_IsRefused_OneCnWithClientAuthIsAccepted()
    {
        using var temp = new TempDirectory("iot-cn");
        var device = "dev-" + Guid.NewGuid().ToString("N")[..6];
        var service = "backend-" + Guid.NewGuid().ToString("N")[..6];
        await OpenSslAsync(temp, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=Iot Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        using var good = await IssueAsync(temp, "good", $"/CN={device}", "extendedKeyUsage=clientAuth");
        using var noEku = await IssueAsync(temp, "noeku", $"/CN={device}", null);
        using var twoCns = await IssueAsync(temp, "two", $"/CN={device}/CN={service}", "extendedKeyUsage=clientAuth");
        using var noCn = await IssueAsync(temp, "nocn", $"/O=Acme/OU={service}", "extendedKeyUsage=clientAuth");
        using var serverOnly = await IssueAsync(temp, "server", $"/CN={device}", "extendedKeyUsage=serverAuth");
        using var server = TestCertificates.CreateSelfSignedServer();
        var serverPfx = temp.Combine("broker.pfx");
        await File.WriteAllBytesAsync(serverPfx, server.Export(X509ContentType.Pfx, "pw"));

        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Mqtt:TlsPort=0", $"--Iot:Mqtt:TlsCertificatePath={serverPfx}", "--Iot:Mqtt:TlsCertificatePassword=pw",
            $"--Iot:Mqtt:ClientCertificateCaPath={temp.Combine("ca.pem")}",
            $"--Iot:Security:Identities:0:Id={device}", "--Iot:Security:Identities:0:Role=Device", "--Iot:Security:Identities:0:Password=unused-pw-1",
            $"--Iot:Security:Identities:1:Id={service}", "--Iot:Security:Identities:1:Role=Service", "--Iot:Security:Identities:1:Password=unused-pw-2");

        Assert.Equal(MqttClientConnectResultCode.Success, await ConnectAsync(broker, device, good));
        Assert.Equal(MqttClientConnectResultCode.Success, await ConnectAsync(broker, device, noEku)); // no EKU: any use
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, service, twoCns));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, device, twoCns));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, service, noCn));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, device, serverOnly));
    }

    [Fact]
    public async Task Password_WithTrailingNulOrControlCharacter_DoesNotAuthenticate()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:Identities:0:Id=svc-nul", "--Iot:Security:Identities:0:Role=Service", "--Iot:Security:Identities:0:Password=secret-123456");
        Assert.Equal(MqttClientConnectResultCode.Success, await ConnectAsync(broker, "secret-123456"u8.ToArray()));

        // HMAC pads a short key with zero bytes, so PBKDF2 derives the same hash for these: they must still fail.
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, "secret-123456\0"u8.ToArray()));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, "secret-123456\0\0\0"u8.ToArray()));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectAsync(broker, "secret-123456\n"u8.ToArray()));
    }

    private static async Task<MqttClientConnectResultCode> ConnectAsync(BrokerFixture broker, byte[] password)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(broker.CreateMqttClientOptionsBuilder(Ids.Client("nul")).WithCredentials("svc-nul", password).Build());
        return result.ResultCode;
    }

    private static async Task<MqttClientConnectResultCode> ConnectAsync(BrokerFixture broker, string clientId, X509Certificate2 certificate)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, broker.MqttTlsPort!.Value)
            .WithClientId(clientId)
            .WithTlsOptions(o => o.UseTls().WithClientCertificates([certificate]).WithCertificateValidationHandler(_ => true))
            .Build();
        var result = await client.ConnectAsync(options);
        return result.ResultCode;
    }

    /// <summary>A key and a certificate signed by the CA in <paramref name="temp"/>, made by openssl.</summary>
    private static async Task<X509Certificate2> IssueAsync(TempDirectory temp, string name, string subject, string? extension)
    {
        await OpenSslAsync(temp, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", subject);
        var extensions = new StringBuilder("basicConstraints=CA:FALSE\n");
        if (extension is not null)
        {
            extensions.Append(extension).Append('\n');
        }

        await File.WriteAllTextAsync(temp.Combine($"{name}.ext"), extensions.ToString());
        await OpenSslAsync(temp, "x509", "-req", "-in", $"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-out", $"{name}.pem", "-extfile", $"{name}.ext");
        using var pem = X509Certificate2.CreateFromPemFile(temp.Combine($"{name}.pem"), temp.Combine($"{name}.key"));

        // Round-trip through PKCS#12 so SslStream can use the private key on Linux.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pfx), null);
    }

    private static async Task OpenSslAsync(TempDirectory temp, params string[] args)
    {
        var openssl = ExternalClients.RequireTool("openssl", "openssl");
        var result = await ChildProcess.RunAsync(openssl, args, OpenSslTimeout, temp.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
