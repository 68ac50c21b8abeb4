using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Simulator;

/// <summary>
/// A broker with a one-second tumbling window on temperature (<c>aggregates/telemetry/t1s/{deviceId}</c>) and a short
/// answer timeout, so that a command lost with a flaky connection is delivered again quickly.
/// </summary>
public sealed class SimulatorBrokerFixture() : BrokerFixture(SimulatorBroker.Settings);

/// <summary>The broker the simulator tests share; each test uses its own device id prefix.</summary>
[CollectionDefinition(Name)]
public sealed class SimulatorBroker : ICollectionFixture<SimulatorBrokerFixture>
{
    public const string Name = "Simulator";

    public const string Window = "t1s";

    internal static readonly string[] Settings =
    [
        $"--Iot:Streams:Windows:0:Name={Window}",
        "--Iot:Streams:Windows:0:Kind=Tumbling",
        "--Iot:Streams:Windows:0:Size=00:00:01",
        "--Iot:Streams:Windows:0:Fields:0=temperature",
        "--Iot:Streams:Windows:0:Tolerance=00:00:01",
        "--Iot:Commands:AnswerTimeout=00:00:03",
    ];

    /// <summary>A device id prefix no other test uses, such as <c>sim-3f2a9c-</c>.</summary>
    public static string UniquePrefix(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 7)] + "-";
}

/// <summary>Sends commands through <c>POST /api/devices/{id}/commands/{name}?wait=N</c>.</summary>
internal sealed class SimulatorApi(Uri httpBase, string? apiKey = null) : IDisposable
{
    private readonly HttpClient _http = CreateClient(httpBase, apiKey);

    public async Task<(int Status, JsonElement Body)> CommandAsync(string deviceId, string name, string payload, int waitSeconds = 15)
    {
        using var content = new StringContent(payload, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri($"api/devices/{deviceId}/commands/{name}?wait={waitSeconds}", UriKind.Relative), content);
        return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    public async Task<JsonElement> GetAsync(string path) => await _http.GetFromJsonAsync<JsonElement>(new Uri(path, UriKind.Relative));

    /// <summary>The <c>iot_mqtt_connections</c> gauge.</summary>
    public async Task<long> ConnectionsAsync()
    {
        var metrics = await _http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        var line = metrics.Split('\n').First(l => l.StartsWith("iot_mqtt_connections ", StringComparison.Ordinal));
        return (long)double.Parse(line["iot_mqtt_connections ".Length..], CultureInfo.InvariantCulture);
    }

    public void Dispose() => _http.Dispose();

    private static HttpClient CreateClient(Uri httpBase, string? apiKey)
    {
        var http = new HttpClient { BaseAddress = httpBase, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null)
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        return http;
    }
}

/// <summary>Collects the retained aggregates published for one device id prefix.</summary>
internal sealed class AggregateWatcher : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly ConcurrentDictionary<string, JsonElement> _latest = new();

    private AggregateWatcher()
    {
    }

    /// <summary>Latest aggregate per device id.</summary>
    public IReadOnlyDictionary<string, JsonElement> Latest => _latest;

    public static async Task<AggregateWatcher> StartAsync(BrokerFixture broker, string prefix)
    {
        var watcher = new AggregateWatcher();
        watcher._client.ApplicationMessageReceivedAsync += e =>
        {
            var topic = e.ApplicationMessage.Topic;
            var deviceId = topic[(topic.LastIndexOf('/') + 1)..];
            if (!deviceId.StartsWith(prefix, StringComparison.Ordinal))
            {
                return Task.CompletedTask;
            }

            using var json = JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString());
            watcher._latest[deviceId] = json.RootElement.Clone();
            return Task.CompletedTask;
        };
        await watcher._client.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("agg")));
        await watcher._client.SubscribeAsync($"aggregates/telemetry/{SimulatorBroker.Window}/+", MqttQualityOfServiceLevel.AtLeastOnce);
        return watcher;
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisconnectAsync();
        _client.Dispose();
    }
}
