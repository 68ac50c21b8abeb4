using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.TestUtilities;

/// <summary>
/// A real webhook receiver on 127.0.0.1 (Kestrel, a free port the first time): answers the CloudEvents validation
/// handshake, records the CloudEvents of accepted POSTs, and can be stopped and brought back on the same port.
/// </summary>
public sealed class WebhookSink : IAsyncDisposable
{
    private WebApplication? _app;
    private TaskCompletionSource? _hold;
    private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebhookSink()
    {
    }

    /// <summary>The port, fixed after the first start.</summary>
    public int Port { get; private set; }

    /// <summary>The URL to subscribe.</summary>
    public Uri Url => new($"http://127.0.0.1:{Port}/hook");

    /// <summary>The events received (single events and the elements of batches), in arrival order.</summary>
    public ConcurrentQueue<JsonElement> Events { get; } = new();

    /// <summary>Starts a receiver on a free port.</summary>
    public static async Task<WebhookSink> StartAsync()
    {
        var sink = new WebhookSink();
        await sink.StartOnAsync(0);
        return sink;
    }

    /// <summary>Stops listening: deliveries fail with connection refused until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    /// <summary>Listens again on the same port.</summary>
    public Task RestartAsync() => StartOnAsync(Port);

    /// <summary>The W3C <c>traceparent</c> header of each POST that carried one, in arrival order.</summary>
    public ConcurrentQueue<string> TraceParents { get; } = new();

    /// <summary>Completes when a POST arrived while responses are held (<see cref="HoldResponses"/>).</summary>
    public Task Held => _held.Task;

    /// <summary>From now on a POST's events are recorded at once but its 200 waits for <see cref="ReleaseResponses"/>.</summary>
    public void HoldResponses()
    {
        _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _hold, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <summary>Answers the held POSTs, and those to come at once.</summary>
    public void ReleaseResponses() => Interlocked.Exchange(ref _hold, null)?.TrySetResult();

    /// <summary>The <c>subject</c> of every event received so far.</summary>
    public IReadOnlyList<string> Subjects() =>
        [.. Events.Select(e => e.TryGetProperty("subject", out var s) ? s.GetString() ?? string.Empty : string.Empty)];

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartOnAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
        _app = app;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.Headers["WebHook-Allowed-Origin"] = context.Request.Headers["WebHook-Request-Origin"].ToString();
            context.Response.StatusCode = 200;
            return;
        }

        if (context.Request.Headers.TryGetValue("traceparent", out var traceParent))
        {
            TraceParents.Enqueue(traceParent.ToString());
        }

        using var document = await JsonDocument.ParseAsync(context.Request.Body);
        if (document.RootElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var element in document.RootElement.EnumerateArray())
            {
                Events.Enqueue(element.Clone());
            }
        }
        else
        {
            Events.Enqueue(document.RootElement.Clone());
        }

        if (Volatile.Read(ref _hold) is { } hold)
        {
            _held.TrySetResult();
            await hold.Task.WaitAsync(context.RequestAborted);
        }

        context.Response.StatusCode = 200;
    }
}
