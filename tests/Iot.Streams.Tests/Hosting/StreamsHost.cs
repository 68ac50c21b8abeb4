using System.Collections.Concurrent;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Iot.Streams.Hosting;
using Iot.Streams.Sinks.Influx;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Streams.Tests.Hosting;

/// <summary>Routing and streams in a host on a free loopback port, as BrokerHost wires them, with a recording MQTT publisher.</summary>
internal sealed class StreamsHost : IAsyncDisposable
{
    private StreamsHost(WebApplication app, RecordingPublisher publisher)
    {
        App = app;
        Publisher = publisher;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public RecordingPublisher Publisher { get; }

    public HttpClient Http { get; }

    public IMessageRouter Router => App.Services.GetRequiredService<IMessageRouter>();

    public static async Task<StreamsHost> StartAsync(string dataDir, Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings ?? []) { ["Iot:DataDir"] = dataDir });
        var publisher = new RecordingPublisher();
        builder.Services.AddSingleton<IMqttPublisher>(publisher);
        services?.Invoke(builder.Services);
        builder.Services.AddIotRouting(builder.Configuration);
        builder.Services.AddIotStreams(builder.Configuration);
        builder.Services.AddInfluxSink(builder.Configuration);
        var app = builder.Build();
        var api = app.MapGroup("/api");
        api.MapRoutingApi();
        api.MapStreamsApi();
        await app.StartAsync();
        return new StreamsHost(app, publisher);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    internal sealed class RecordingPublisher : IMqttPublisher
    {
        public ConcurrentQueue<(string Topic, string Payload, bool Retain)> Published { get; } = new();

        public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
            IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null, CancellationToken cancellationToken = default)
        {
            Published.Enqueue((topic, System.Text.Encoding.UTF8.GetString(payload.Span), retain));
            return Task.CompletedTask;
        }
    }
}
