using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// What the backup tests (single broker and cluster) put in a broker before a backup, and check in the broker restored
/// from it: MQTT clients and messages, the API calls, and the check of a device's credentials, the persistent session
/// <c>keep</c> with its three queued alerts and the retained <c>status/a</c>.
/// </summary>
internal static class RestoredState
{
    public static MqttApplicationMessage Message(string topic, string payload, bool retain = false) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithRetainFlag(retain)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    public static MqttClientOptions Options(int port, string clientId, bool cleanStart) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(cleanStart)
            .WithSessionExpiryInterval(cleanStart ? 0u : 3600u)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build();

    public static async Task<IMqttClient> ConnectAsync(int port, string clientId, bool cleanStart)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options(port, clientId, cleanStart));
        return client;
    }

    public static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>The ids of <c>GET /api/devices</c>, in order.</summary>
    public static async Task<List<string>> IdsAsync(HttpClient http) =>
        [.. (await http.GetFromJsonAsync<JsonElement>(new Uri("api/devices", UriKind.Relative))).EnumerateArray().Select(d => d.GetProperty("id").GetString()!).Order(StringComparer.Ordinal)];

    /// <summary>The device <c>dev-backup</c> logs in with its password; <c>keep</c> resumes with alerts 0-2 queued; <c>status/a</c> is retained <c>online</c>.</summary>
    public static async Task AssertSessionAndRetainedAsync(int mqttPort, string password)
    {
        using var deviceClient = new MqttClientFactory().CreateMqttClient();
        await deviceClient.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerFixture.Host, mqttPort).WithClientId("dev-backup")
            .WithCredentials("dev-backup", password).WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(10)).Build());
        var alerts = new ConcurrentQueue<string>();
        var retained = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var resumed = new MqttClientFactory().CreateMqttClient();
        resumed.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Retain)
            {
                retained.TrySetResult(e.ApplicationMessage.ConvertPayloadToString());
            }
            else
            {
                alerts.Enqueue(e.ApplicationMessage.ConvertPayloadToString());
            }

            return Task.CompletedTask;
        };
        var session = await resumed.ConnectAsync(Options(mqttPort, "keep", cleanStart: false));
        Assert.True(session.IsSessionPresent);
        await Eventually.WaitUntilAsync(() => alerts.Count >= 3, TimeSpan.FromSeconds(30), "the queued alerts");
        Assert.Equal(["alert 0", "alert 1", "alert 2"], alerts.ToArray());
        await resumed.SubscribeAsync("status/#");
        Assert.Equal("online", await retained.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
