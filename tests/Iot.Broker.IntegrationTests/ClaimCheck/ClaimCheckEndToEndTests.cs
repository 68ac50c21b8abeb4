using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.ClaimCheck;

/// <summary>
/// Issue 21, claim check, through the real broker: a large MQTT publish on a claim-checked topic reaches a subscriber that
/// asked to resolve (SUBSCRIBE user property <c>iot-claim-check: resolve</c>) whole, and any other subscriber as a
/// reference whose signed URL returns the bytes; mosquitto_pub sends a large file the same way; an HTTP queue send
/// with a large body is received resolved or as a reference.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClaimCheckEndToEndTests(ClaimCheckBrokerFixture broker) : IClassFixture<ClaimCheckBrokerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MqttPublish_OverThreshold_ResolvingSubscriberGetsPayloadOthersGetReferenceWhoseUrlReturnsIt()
    {
        var topic = $"files/{Guid.NewGuid():N}/log";
        var payload = RandomNumberGenerator.GetBytes(900 * 1024);
        var stored = await ClaimCheckAssert.MetricAsync(broker.HttpBaseUri, "iot_claimcheck_blobs_stored_total");
        using var resolving = await SubscribeAsync(topic, resolve: true);
        using var plain = await SubscribeAsync(topic, resolve: false);

        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("ccpub")));
        var published = await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithContentType("application/octet-stream").WithUserProperty("origin", Encoding.UTF8.GetBytes("device-7").AsMemory())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(published.IsSuccess, published.ReasonString);

        var whole = await resolving.Next.WaitAsync(Timeout);
        Assert.Equal(payload, whole.Payload);
        Assert.Equal("application/octet-stream", whole.ContentType);
        Assert.DoesNotContain(whole.UserProperties, p => p.Name == "iot-claim-check");

        var reference = await plain.Next.WaitAsync(Timeout);
        Assert.Equal("application/vnd.iot.claim-check+json", reference.ContentType);
        var claim = ClaimCheckAssert.Reference(reference.Payload);
        Assert.Contains("&sig=", Encoding.UTF8.GetString(reference.Payload), StringComparison.Ordinal);
        var id = claim.GetProperty("id").GetString();
        Assert.Contains(reference.UserProperties, p => p.Name == "iot-claim-check" && p.ReadValueAsString() == id);
        Assert.Contains(reference.UserProperties, p => p.Name == "origin" && p.ReadValueAsString() == "device-7");
        Assert.Equal(payload.Length, claim.GetProperty("size").GetInt64());
        Assert.Equal("application/octet-stream", claim.GetProperty("contentType").GetString());
        Assert.True(claim.GetProperty("expiresAt").GetDateTimeOffset() > DateTimeOffset.UtcNow);
        Assert.Equal(payload, await ClaimCheckAssert.FetchAsync(broker.HttpBaseUri, claim));

        // A small payload on the same topic is not claim-checked.
        await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("small")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal("small", Encoding.UTF8.GetString((await plain.Next.WaitAsync(Timeout)).Payload));
        Assert.True(await ClaimCheckAssert.MetricAsync(broker.HttpBaseUri, "iot_claimcheck_blobs_stored_total") >= stored + 1);
        Assert.True(await ClaimCheckAssert.MetricAsync(broker.HttpBaseUri, "iot_claimcheck_bytes_stored_total") >= payload.Length);
    }

    [Fact]
    public async Task MosquittoPub_LargeFile_SubscriberGetsReferenceAndTheApiReadsTheFile()
    {
        var topic = $"files/{Guid.NewGuid():N}/image";
        var payload = RandomNumberGenerator.GetBytes(512 * 1024);
        using var dir = new TempDirectory("iot-claimcheck-file");
        var file = dir.Combine("image.bin");
        await File.WriteAllBytesAsync(file, payload);
        using var plain = await SubscribeAsync(topic, resolve: false);

        (await ExternalClients.MosquittoPubAsync(["-h", BrokerFixture.Host, "-p", broker.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-V", "mqttv5", "-q", "1", "-t", topic, "-f", file], Timeout)).EnsureSuccess();

        var reference = await plain.Next.WaitAsync(Timeout);
        var claim = ClaimCheckAssert.Reference(reference.Payload);
        Assert.Equal(payload, await ClaimCheckAssert.FetchAsync(broker.HttpBaseUri, claim));
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        Assert.Equal(payload, await http.GetByteArrayAsync(new Uri($"api/claimcheck/{claim.GetProperty("id").GetString()}", UriKind.Relative)));
    }

    [Fact]
    public async Task SignedUrl_Tampered_403AndUnknownBlob_404()
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        var id = Guid.NewGuid().ToString("N");
        using var forged = await http.GetAsync(new Uri($"claimcheck/{id}?expires=9999999999&sig=AAAA", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal("application/problem+json", forged.Content.Headers.ContentType?.MediaType);

        using var missing = await http.GetAsync(new Uri($"api/claimcheck/{id}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task HttpQueueSend_LargeBody_ReceivedResolvedOrAsReference()
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        var queue = "cc-" + Guid.NewGuid().ToString("N")[..12];
        await ClaimCheckAssert.CreateQueueAsync(http, queue);
        var text = string.Concat(Enumerable.Repeat("0123456789abcdef", 1024 * 1024 / 16));
        for (var i = 0; i < 2; i++)
        {
            using var content = new StringContent(text, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
            using var sent = await http.PostAsync(new Uri($"api/queues/{queue}/messages", UriKind.Relative), content);
            Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
        }

        var resolved = await ReceiveOneAsync(http, queue, resolve: true);
        Assert.Equal(text, resolved.GetProperty("body").GetString());
        Assert.Equal("text/plain", resolved.GetProperty("contentType").GetString());

        var reference = await ReceiveOneAsync(http, queue, resolve: false);
        Assert.Equal("application/vnd.iot.claim-check+json", reference.GetProperty("contentType").GetString());
        var claim = reference.GetProperty("body").GetProperty("claimCheck");
        Assert.Equal(Encoding.UTF8.GetBytes(text), await ClaimCheckAssert.FetchAsync(broker.HttpBaseUri, claim));
        Assert.Equal(claim.GetProperty("id").GetString(), reference.GetProperty("applicationProperties").GetProperty("iot-claim-check").GetString());

        // The stored message is the small reference, not the payload.
        var peeked = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/queues/{queue}/messages", UriKind.Relative));
        Assert.All(peeked.GetProperty("value").EnumerateArray(), m => Assert.Equal("application/vnd.iot.claim-check+json", m.GetProperty("contentType").GetString()));
    }

    [Fact]
    public async Task HttpQueueSend_OverMaxPayload_413AndNothingKept()
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        var queue = "cc-" + Guid.NewGuid().ToString("N")[..12];
        await ClaimCheckAssert.CreateQueueAsync(http, queue);
        var blobs = Path.Combine(broker.DataDir, "claimcheck", "blobs");
        var before = Directory.GetFiles(blobs).Length;

        using var content = new ByteArrayContent(new byte[31 * 1024 * 1024]);
        using var sent = await http.PostAsync(new Uri($"api/queues/{queue}/messages", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, sent.StatusCode);
        Assert.Empty(Directory.GetFiles(Path.Combine(broker.DataDir, "claimcheck", "pending")));
        Assert.Equal(before, Directory.GetFiles(blobs).Length);
    }

    private static async Task<JsonElement> ReceiveOneAsync(HttpClient http, string queue, bool resolve)
    {
        using var received = await http.PostAsync(new Uri($"api/queues/{queue}/messages:receive?mode=receiveAndDelete&maxWaitTime=10&resolveClaimCheck={(resolve ? "true" : "false")}", UriKind.Relative), null);
        received.EnsureSuccessStatusCode();
        var list = await received.Content.ReadFromJsonAsync<JsonElement>();
        return Assert.Single(list.GetProperty("value").EnumerateArray()).Clone();
    }

    private async Task<Subscriber> SubscribeAsync(string topic, bool resolve)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var subscriber = new Subscriber(client);
        client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            subscriber.Received(new Received(m.Payload.ToArray(), m.ContentType, m.UserProperties?.ToList() ?? []));
            return Task.CompletedTask;
        };
        await client.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId(resolve ? "ccres" : "ccpln")));
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        if (resolve)
        {
            options.WithUserProperty("iot-claim-check", Encoding.UTF8.GetBytes("resolve").AsMemory());
        }

        await client.SubscribeAsync(options.Build());
        return subscriber;
    }

    private sealed record Received(byte[] Payload, string? ContentType, List<MqttUserProperty> UserProperties);

    private sealed class Subscriber(IMqttClient client) : IDisposable
    {
        private readonly System.Threading.Channels.Channel<Received> _messages = System.Threading.Channels.Channel.CreateUnbounded<Received>();

        public Task<Received> Next => _messages.Reader.ReadAsync().AsTask();

        public void Received(Received message) => _messages.Writer.TryWrite(message);

        public void Dispose() => client.Dispose();
    }
}
