using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Benchmarks;

/// <summary>
/// Events per second from <see cref="IMessageRouter.RouteAsync"/> (as the broker calls it for a QoS 1 publish,
/// including the durable record in routing.db) to a real Kestrel webhook on 127.0.0.1 that answers 200: one
/// webhook subscription, one event per request or batches of up to 100. The MQTT leg is not included.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class WebhookDeliveryBenchmarks
{
    private const int Events = 2000;
    private readonly byte[] _payload = Encoding.UTF8.GetBytes("""{"temperature":21.5,"severity":2}""");
    private string _directory = "";
    private WebApplication _receiver = null!;
    private WebApplication _host = null!;
    private IMessageRouter _router = null!;
    private int _received;
    private TaskCompletionSource _done = new();

    /// <summary>One event per request (false) or batches of up to 100 (true).</summary>
    [Params(false, true)]
    public bool Batched { get; set; }

    /// <summary>Starts the receiver and the routing host and creates the subscription.</summary>
    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    /// <summary>Stops both hosts.</summary>
    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    /// <summary>Routes <see cref="Events"/> events and waits until the webhook has them all.</summary>
    [Benchmark(OperationsPerInvoke = Events)]
    public async Task RouteToWebhook()
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _received, 0);
        var publishes = new Task[Events];
        for (int i = 0; i < Events; i++)
        {
            publishes[i] = _router.RouteAsync(new RoutedMessage
            {
                Topic = "devices/d1/events/alarm",
                Payload = _payload,
                QualityOfService = 1,
                SourceClientId = "d1",
                ReceivedAt = DateTimeOffset.UtcNow,
            });
        }

        await Task.WhenAll(publishes);
        await _done.Task.WaitAsync(TimeSpan.FromMinutes(2));
    }

    private async Task SetupAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.Logging.ClearProviders();
        receiverBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = receiverBuilder.Build();
        _receiver.Run(async context =>
        {
            if (HttpMethods.IsOptions(context.Request.Method))
            {
                context.Response.Headers["WebHook-Allowed-Origin"] = "*";
                return;
            }

            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            int count = body.StartsWith('[') ? body.Split("\"specversion\"").Length - 1 : 1;
            if (Interlocked.Add(ref _received, count) >= Events)
            {
                _done.TrySetResult();
            }
        });
        await _receiver.StartAsync();
        var receiverAddress = Address(_receiver);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Iot:DataDir"] = _directory });
        builder.Services.AddIotRouting(builder.Configuration);
        _host = builder.Build();
        _host.MapGroup("/api").MapRoutingApi();
        await _host.StartAsync();
        _router = _host.Services.GetRequiredService<IMessageRouter>();

        using var http = new HttpClient { BaseAddress = new Uri(Address(_host) + "/api/") };
        var batching = Batched ? ""","batching":{"maxEventsPerBatch":100,"preferredBatchSizeInKilobytes":1024}""" : "";
        using var content = new StringContent($$"""{"name":"bench","destination":{"kind":"webhook","endpointUrl":"{{receiverAddress}}/hook"}{{batching}}}""",
            Encoding.UTF8, "application/json");
        (await http.PostAsync("subscriptions", content)).EnsureSuccessStatusCode();
    }

    private async Task CleanupAsync()
    {
        await _host.StopAsync();
        await _host.DisposeAsync();
        await _receiver.StopAsync();
        await _receiver.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
}
