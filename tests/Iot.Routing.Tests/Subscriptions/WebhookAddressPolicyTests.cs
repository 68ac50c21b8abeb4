using System.Net;
using Iot.Routing.Subscriptions;

namespace Iot.Routing.Tests.Subscriptions;

public sealed class WebhookAddressPolicyTests
{
    private static readonly WebhookAddressPolicy Strict = new(allowPrivateNetworks: false);

    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.255.254", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("10.0.0.1", "private")]
    [InlineData("172.16.0.1", "private")]
    [InlineData("172.31.255.255", "private")]
    [InlineData("192.168.1.1", "private")]
    [InlineData("fc00::1", "private")]
    [InlineData("fd00:ec2::254", "private")]
    [InlineData("169.254.169.254", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("100.64.0.1", "shared (carrier-grade NAT)")]
    [InlineData("100.100.100.200", "shared (carrier-grade NAT)")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("255.255.255.255", "reserved")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("::ffff:169.254.169.254", "link-local")]
    [InlineData("::ffff:10.1.2.3", "private")]
    [InlineData("::127.0.0.1", "loopback")]
    [InlineData("64:ff9b::7f00:1", "loopback")]
    [InlineData("2002:a00:1::1", "private")]
    public void Classify_RefusedAddress_NamesItsKind(string address, string kind) =>
        Assert.Equal(kind, WebhookAddressPolicy.Classify(IPAddress.Parse(address)));

    [Theory]
    [InlineData("93.184.216.34")]
    [InlineData("8.8.8.8")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    public void Classify_PublicAddress_IsAllowed(string address)
    {
        Assert.Null(WebhookAddressPolicy.Classify(IPAddress.Parse(address)));
        Assert.Null(Strict.Check(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook")]
    [InlineData("http://0x7f000001/hook")]
    [InlineData("http://2130706433/hook")]
    [InlineData("http://127.1/hook")]
    [InlineData("http://0177.0.0.1/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://[::ffff:7f00:1]/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://0/hook")]
    [InlineData("http://10.1.2.3/hook")]
    [InlineData("https://[fe80::1%25eth0]/hook")]
    [InlineData("http://localhost:5000/hook")]
    [InlineData("http://LOCALHOST./hook")]
    [InlineData("http://api.localhost/hook")]
    public void CheckHost_RefusedLiteralOrLocalhost_SaysWhy(string url)
    {
        var reason = Strict.CheckHost(new Uri(url));
        Assert.NotNull(reason);
        Assert.Matches("loopback|private|link-local|unspecified", reason);
    }

    [Theory]
    [InlineData("https://example.com/hook")]
    [InlineData("http://93.184.216.34/hook")]
    [InlineData("http://hooks.internal.example/hook")]
    public void CheckHost_PublicLiteralOrName_IsLeftToConnectTime(string url) => Assert.Null(Strict.CheckHost(new Uri(url)));

    [Fact]
    public void AllowPrivateNetworks_AllowsEverything()
    {
        var open = new WebhookAddressPolicy(allowPrivateNetworks: true);
        Assert.Null(open.CheckHost(new Uri("http://127.0.0.1/")));
        Assert.Null(open.Check(IPAddress.Parse("169.254.169.254")));
    }

    [Fact]
    public void AllowedNetworks_AllowTheirAddressesOnly_IncludingMappedForms()
    {
        var policy = new WebhookAddressPolicy(false, WebhookAddressPolicy.ParseNetworks(["10.20.0.0/16", "127.0.0.1"]));
        Assert.Null(policy.Check(IPAddress.Parse("10.20.3.4")));
        Assert.Null(policy.Check(IPAddress.Parse("::ffff:10.20.3.4")));
        Assert.Null(policy.Check(IPAddress.Parse("127.0.0.1")));
        Assert.Equal("private", policy.Check(IPAddress.Parse("10.21.0.1")));
        Assert.Equal("loopback", policy.Check(IPAddress.Parse("127.0.0.2")));
        Assert.NotNull(policy.CheckHost(new Uri("http://127.0.0.2:81/")));
    }

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("10.0.0.1", true)]
    [InlineData("fd00::/8", true)]
    [InlineData("10.0.0.0/33", false)]
    [InlineData("example.com", false)]
    [InlineData("", false)]
    public void TryParseNetwork_CidrOrAddress(string text, bool valid) =>
        Assert.Equal(valid, WebhookAddressPolicy.TryParseNetwork(text, out _));
}
