using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.IntegrationTests;

/// <summary>
/// The routing layer as the broker hosts it: <c>AddIotRouting</c> plus <c>MapRoutingApi</c> under <c>/api</c> on
/// Kestrel (127.0.0.1, port 0), with a short retry schedule. MQTT publishes are made by calling the
/// <see cref="IMessageRouter"/>, as the broker does.
/// </summary>
internal sealed class RoutingTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RoutingTestHost(WebApplication app, HttpClient http, RecordingMqttPublisher mqtt)
    {
        _app = app;
        Http = http;
        Mqtt = mqtt;
    }

    public HttpClient Http { get; }

    public RecordingMqttPublisher Mqtt { get; }

    public IMessageRouter Router => _app.Services.GetRequiredService<IMessageRouter>();

    public RoutingMetrics Metrics => _app.Services.GetRequiredService<RoutingMetrics>();

    public static async Task<RoutingTestHost> StartAsync(string dataDir, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var configuration = new Dictionary<string, string?>
        {
            ["Iot:DataDir"] = dataDir,
            ["Iot:Routing:RetrySchedule:0"] = "00:00:00.100",
            ["Iot:Routing:RetrySchedule:1"] = "00:00:00.200",
            ["Iot:Routing:RetrySchedule:2"] = "00:00:00.300",
            ["Iot:Routing:WebhookTimeout"] = "00:00:05",
            // The receivers listen on loopback, which the host (Production, as no environment is set) refuses by default;
            // the tests of that policy set this back to false.
            ["Iot:Routing:WebhookAllowPrivateNetworks"] = "true",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        var mqtt = new RecordingMqttPublisher();
        builder.Services.AddSingleton<IMqttPublisher>(mqtt);
        services?.Invoke(builder.Services);
        builder.Services.AddIotRouting(builder.Configuration);
        var app = builder.Build();
        app.MapGroup("/api").MapRoutingApi();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/api/") };
        return new RoutingTestHost(app, http, mqtt);
    }

    /// <summary>Publishes as an MQTT client would (QoS 1); completes when the broker could send PUBACK.</summary>
    public Task PublishAsync(string topic, string payload, params (string Name, string Value)[] userProperties) =>
        Router.RouteAsync(new RoutedMessage
        {
            Topic = topic,
            Payload = Encoding.UTF8.GetBytes(payload),
            QualityOfService = 1,
            SourceClientId = "test-device",
            UserProperties = [.. userProperties.Select(p => new KeyValuePair<string, string>(p.Name, p.Value))],
            ReceivedAt = DateTimeOffset.UtcNow,
        });

    public async Task CreateSubscriptionAsync(string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync("subscriptions", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<(int Status, JsonElement Body)> PostJsonAsync(string path, string json, string contentType = "application/json")
    {
        using var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await Http.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public async Task<long> PendingAsync(string subscription) =>
        (await GetJsonAsync("subscriptions/" + subscription)).GetProperty("pendingEvents").GetInt64();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
