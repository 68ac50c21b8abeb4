using Iot.Routing.Hosting;
using System.Net;
using System.Text.Json;

namespace Iot.Routing.IntegrationTests;

/// <summary>
/// Finding 11 of issue 16 (server-side request forgery through webhook destinations), through the HTTP API of a real
/// routing host and real receivers on loopback: refused at creation for literal addresses in odd forms, refused at
/// connect time after resolution, and a redirect from an allowed receiver to a refused one is not followed.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WebhookDestinationPolicyTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static string Webhook(string name, string url, string extra = "") => $$"""
        {"name":"{{name}}","destination":{"kind":"webhook","endpointUrl":"{{url}}"}{{extra}}}
        """;

    [Theory]
    [InlineData("http://127.0.0.1:9/hook")]
    [InlineData("http://0x7f000001:9/hook")]
    [InlineData("http://2130706433:9/hook")]
    [InlineData("http://127.1:9/hook")]
    [InlineData("http://[::ffff:127.0.0.1]:9/hook")]
    [InlineData("http://[::1]:9/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.0.0.5/hook")]
    [InlineData("http://100.64.1.1/hook")]
    [InlineData("http://localhost:9/hook")]
    public async Task Create_RefusedLiteralAddress_400WithAClearDetail_InProduction(string url)
    {
        // No setting: the host runs as Production, where private networks are refused.
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?> { ["Iot:Routing:WebhookAllowPrivateNetworks"] = null });
        var (status, problem) = await host.PostJsonAsync("subscriptions", Webhook("ssrf", url));

        Assert.Equal(400, status);
        Assert.Equal("Webhook destination not allowed", problem.GetProperty("title").GetString());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.StartsWith("destination.endpointUrl: ", detail, StringComparison.Ordinal);
        Assert.Matches("loopback|private|link-local|shared", detail);
        Assert.Equal(404, (int)(await host.Http.GetAsync(new Uri("subscriptions/ssrf", UriKind.Relative))).StatusCode);
        Assert.Equal(1, host.Metrics.Read(RoutingCounter.DestinationsForbidden));
    }

    [Fact]
    public async Task Create_Loopback_AllowedWhenTheSettingSaysSo()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?> { ["Iot:Routing:WebhookAllowPrivateNetworks"] = "true" });
        await host.CreateSubscriptionAsync(Webhook("local", receiver.Url.ToString()));
        await host.PublishAsync("devices/d1/events/a", "{}");
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 1, "the loopback receiver got the event");
    }

    [Fact]
    public async Task Deliver_NameResolvingToLoopback_DeadLetteredAsNotAllowed_NothingSent()
    {
        // The machine's own name resolves (hosts file, DNS, its interfaces) to addresses among which at least one is
        // loopback or private: accepted at creation, where only literals are judged, and refused as a whole when
        // connecting, after resolution.
        var name = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(name);
        Assert.Contains(addresses, a => Iot.Routing.Subscriptions.WebhookAddressPolicy.Classify(a) is not null);
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?> { ["Iot:Routing:WebhookAllowPrivateNetworks"] = "false" });
        await host.CreateSubscriptionAsync(Webhook("by-name", $"http://{name}:{receiver.Port}/hook"));

        await host.PublishAsync("devices/d1/events/a", "{}");

        var dead = await WaitForDeadLetterAsync(host, "by-name");
        Assert.Equal("DestinationNotAllowed", dead.GetProperty("reason").GetString());
        var outcome = dead.GetProperty("lastOutcome").GetString()!;
        Assert.Contains($"{name} resolves to", outcome, StringComparison.Ordinal);
        Assert.Contains("webhooks may not reach it", outcome, StringComparison.Ordinal);
        Assert.Empty(receiver.Requests);
        Assert.Equal(0, await host.PendingAsync("by-name"));
        Assert.Equal(1, host.Metrics.Read(RoutingCounter.WebhookDestinationsRefused));
        Assert.Equal(1, host.Metrics.Read(RoutingCounter.DeadLettered));
    }

    [Fact]
    public async Task Deliver_RedirectFromAnAllowedReceiverToARefusedOne_NotFollowed()
    {
        // 127.0.0.1 is allowed by the allow-list; 127.0.0.2 (loopback too, a second listener) is not.
        await using var refused = await WebhookReceiver.StartAsync("127.0.0.2");
        await using var allowed = await WebhookReceiver.StartAsync();
        allowed.RedirectTo = refused.Url;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:WebhookAllowPrivateNetworks"] = "false",
            ["Iot:Routing:WebhookAllowedNetworks:0"] = "127.0.0.1/32",
        });
        var (status, _) = await host.PostJsonAsync("subscriptions", Webhook("direct", refused.Url.ToString()));
        Assert.Equal(400, status);
        await host.CreateSubscriptionAsync(Webhook("redirected", allowed.Url.ToString(), ""","retryPolicy":{"maxDeliveryAttempts":1}"""));

        await host.PublishAsync("devices/d1/events/a", "{}");

        var dead = await WaitForDeadLetterAsync(host, "redirected");
        Assert.Equal("HTTP 307 (redirects are not followed)", dead.GetProperty("lastOutcome").GetString());
        Assert.Equal(1, allowed.Posts);
        Assert.Empty(refused.Requests);
    }

    private static async Task<JsonElement> WaitForDeadLetterAsync(RoutingTestHost host, string subscription)
    {
        JsonElement dead = default;
        await Eventually.WaitUntilAsync(async () =>
        {
            var list = (await host.GetJsonAsync($"subscriptions/{subscription}/deadletters")).GetProperty("value");
            if (list.GetArrayLength() == 0)
            {
                return false;
            }

            dead = list[0].Clone();
            return true;
        }, "the event was dead-lettered");
        return dead;
    }
}
