using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Streams;

/// <summary>
/// Retention by age on a timer, through the real broker: a stream partition that stops receiving ages out although
/// nothing is written to it any more (before issue 21 retention ran only after a write). Real time: the shortest
/// retention a stream may have is one minute, so the test takes a little over a minute.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class StreamRetentionEndToEndTests
{
    [Fact]
    public async Task PartitionThatStopsReceiving_AgesOutOnTheTimer_AndTakesNewRecordsAtTheNextOffset()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Streams:RetentionCheckInterval=00:00:01");
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };
        var stream = "aging-" + Guid.NewGuid().ToString("N")[..8];
        await PutAsync(http, $"api/streams/{stream}", """{"partitions":1,"retention":"00:01:00"}""");
        await PutAsync(http, $"api/routes/{stream}", $$$"""{"source":"aging/{{{stream}}}/+","destination":{"kind":"stream","name":"{{{stream}}}"}}""");

        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(broker.CreateMqttClientOptions("aging-" + Guid.NewGuid().ToString("N")[..8]));
        var start = DateTimeOffset.UtcNow;
        for (int i = 0; i < 20; i++)
        {
            await device.PublishStringAsync($"aging/{stream}/d1", $$"""{"i":{{i}}}""", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var partition = await PartitionAsync(http, stream);
        Assert.Equal((0, 20), (partition.GetProperty("startOffset").GetInt64(), partition.GetProperty("nextOffset").GetInt64()));

        // Nothing more is written: only the timer can remove the records, a minute after they were appended.
        var aged = await Eventually.WaitForAsync(() => PartitionAsync(http, stream), p => p.GetProperty("startOffset").GetInt64() == 20,
            TimeSpan.FromMinutes(3), "the idle partition aged out");
        Assert.True(DateTimeOffset.UtcNow - start >= TimeSpan.FromMinutes(1), "removed before the retention age");
        Assert.Equal(20, aged.GetProperty("nextOffset").GetInt64());
        var read = await http.GetFromJsonAsync<JsonElement>($"api/streams/{stream}/partitions/0/records?offset=0");
        Assert.Equal(0, read.GetProperty("records").GetArrayLength());

        await device.PublishStringAsync($"aging/{stream}/d1", """{"i":20}""", MqttQualityOfServiceLevel.AtLeastOnce);
        read = await http.GetFromJsonAsync<JsonElement>($"api/streams/{stream}/partitions/0/records?offset=0");
        Assert.Equal(20, Assert.Single(read.GetProperty("records").EnumerateArray()).GetProperty("offset").GetInt64());
    }

    private static async Task PutAsync(HttpClient http, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.PutAsync(new Uri(path, UriKind.Relative), content);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<JsonElement> PartitionAsync(HttpClient http, string stream) =>
        (await http.GetFromJsonAsync<JsonElement>($"api/streams/{stream}")).GetProperty("partitionOffsets")[0];
}
