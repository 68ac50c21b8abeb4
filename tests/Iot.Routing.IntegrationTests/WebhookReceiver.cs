using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.IntegrationTests;

/// <summary>
/// A real webhook endpoint: Kestrel on 127.0.0.1 (port 0 the first time). It answers the CloudEvents validation
/// handshake, records every request and the events of accepted deliveries, and can be told to fail, be slow, or stop
/// and come back on the same port.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly string _address;
    private WebApplication? _app;
    private int _posts;

    private WebhookReceiver(string address)
    {
        _address = address;
    }

    public int Port { get; private set; }

    public Uri Url => new($"http://{_address}:{Port}/hook");

    /// <summary>When set, every POST is answered 307 to this URL.</summary>
    public Uri? RedirectTo { get; set; }

    /// <summary>Status code for the n-th POST (1-based); default 200.</summary>
    public Func<int, int> StatusFor { get; set; } = _ => 200;

    /// <summary>Delay before answering the n-th POST; default none.</summary>
    public Func<int, TimeSpan> DelayFor { get; set; } = _ => TimeSpan.Zero;

    /// <summary>Whether OPTIONS gets <c>WebHook-Allowed-Origin</c> back.</summary>
    public bool AllowValidation { get; set; } = true;

    public ConcurrentQueue<(string Method, string? ContentType, string? Origin, string? Attempt, string Body)> Requests { get; } = new();

    /// <summary>Events of POSTs answered with 2xx, in arrival order.</summary>
    public ConcurrentQueue<JsonElement> Events { get; } = new();

    public int Posts => Volatile.Read(ref _posts);

    /// <summary>Starts on <paramref name="address"/> (another loopback address such as 127.0.0.2 works on Linux).</summary>
    public static async Task<WebhookReceiver> StartAsync(string address = "127.0.0.1")
    {
        var receiver = new WebhookReceiver(address);
        await receiver.StartOnAsync(0);
        return receiver;
    }

    /// <summary>Stops listening: connections are refused until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public Task RestartAsync() => StartOnAsync(Port);

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartOnAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{_address}:{port}");
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
        _app = app;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        var origin = context.Request.Headers["WebHook-Request-Origin"].ToString();
        Requests.Enqueue((context.Request.Method, context.Request.ContentType, origin, context.Request.Headers["Iot-Delivery-Attempt"].ToString(), body));
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            if (AllowValidation)
            {
                context.Response.Headers["WebHook-Allowed-Origin"] = origin;
            }

            return;
        }

        int n = Interlocked.Increment(ref _posts);
        if (RedirectTo is { } target)
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = target.ToString();
            return;
        }

        var delay = DelayFor(n);
        if (delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        int status = StatusFor(n);
        context.Response.StatusCode = status;
        if (status is >= 200 and <= 204)
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in json.RootElement.EnumerateArray())
                {
                    Events.Enqueue(item.Clone());
                }
            }
            else
            {
                Events.Enqueue(json.RootElement.Clone());
            }
        }
    }
}
