using System.Buffers;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.ClaimCheck;

/// <summary>
/// The broker with <c>Iot:ClaimCheck:Store=AzureBlob</c> on a real Azurite: a large MQTT publish and a large queue send are
/// stored in the container, and the references carry SAS URLs that read the bytes straight from the blob service.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClaimCheckAzureBlobTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AzureStore_PublishAndQueueSend_ReferencesCarrySasUrlsThatReadTheBytes()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:ClaimCheck:Enabled=true",
            "--Iot:ClaimCheck:ThresholdBytes=65536",
            "--Iot:ClaimCheck:Topics:0=files/#",
            "--Iot:ClaimCheck:Store=AzureBlob",
            $"--Iot:ClaimCheck:AzureConnectionString={azurite.ConnectionString}",
            "--Iot:ClaimCheck:AzureContainer=c" + Guid.NewGuid().ToString("N")[..20]);
        var topic = $"files/{Guid.NewGuid():N}/batch";
        var payload = RandomNumberGenerator.GetBytes(700 * 1024);

        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.Payload.ToArray());
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("ccaz")));
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("ccazp")));
        var published = await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(published.IsSuccess, published.ReasonString);

        var claim = ClaimCheckAssert.Reference(await received.Task.WaitAsync(Timeout));
        var url = new Uri(claim.GetProperty("url").GetString()!);
        Assert.Equal(azurite.Port, url.Port);
        Assert.Contains("sig=", url.Query, StringComparison.Ordinal);
        using var plain = new HttpClient { Timeout = Timeout };
        Assert.Equal(payload, await plain.GetByteArrayAsync(url));

        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        await ClaimCheckAssert.CreateQueueAsync(http, "batches");
        using (var content = new ByteArrayContent(payload))
        using (var sent = await http.PostAsync(new Uri("api/queues/batches/messages", UriKind.Relative), content))
        {
            Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
        }

        using var receive = await http.PostAsync(new Uri("api/queues/batches/messages:receive?mode=receiveAndDelete&maxWaitTime=10", UriKind.Relative), null);
        var message = Assert.Single((await receive.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value").EnumerateArray());
        var queued = message.GetProperty("body").GetProperty("claimCheck");
        Assert.Equal(payload, await plain.GetByteArrayAsync(new Uri(queued.GetProperty("url").GetString()!)));
        Assert.Equal(payload, await http.GetByteArrayAsync(new Uri($"api/claimcheck/{queued.GetProperty("id").GetString()}", UriKind.Relative)));
    }
}
