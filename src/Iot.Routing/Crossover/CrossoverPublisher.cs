using System.Text.Json;
using System.Threading.Channels;
using CloudNative.CloudEvents;
using Iot.Messaging.Crossover;
using Iot.Routing.Hosting;
using Iot.Routing.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Crossover;

/// <summary>
/// The <see cref="ICrossoverEvents"/> of the host: raised events go into a bounded channel (full: the new event is
/// dropped and counted, so the raiser never waits) and one background loop turns them into CloudEvents and routes
/// them as <see cref="MessageRouter.PublishAsync"/> routes a CloudEvent posted to <c>POST /api/events</c>.
/// </summary>
/// <remarks>
/// It keeps running until every hosted service has stopped (<see cref="StoppedAsync"/>): the MQTT listeners stop
/// after it would have as a plain hosted service (services stop in reverse order of registration), and the
/// disconnections of a shutdown (<c>ServerShuttingDown</c>) are still routed, within the host's shutdown timeout.
/// </remarks>
internal sealed partial class CrossoverPublisher : ICrossoverEvents, IHostedLifecycleService, IAsyncDisposable
{
    private const int BatchSize = 64;

    private readonly Channel<CrossoverEvent> _channel;
    private readonly Func<MessageRouter> _routerFactory;
    private readonly RoutingMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    // The router is resolved at start, not at construction: it depends on the command service, which raises events here.
    public CrossoverPublisher(IOptions<CrossoverOptions> options, Func<MessageRouter> routerFactory, RoutingMetrics metrics, ILogger<CrossoverPublisher> logger)
    {
        var settings = options.Value;
        IsEnabled = settings.Enabled;
        _routerFactory = routerFactory;
        _metrics = metrics;
        _logger = logger;
        _channel = Channel.CreateBounded<CrossoverEvent>(new BoundedChannelOptions(settings.MaxPendingEvents)
        {
            // TryWrite fails when full: the raiser drops and counts; it never waits for the router.
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    /// <inheritdoc/>
    public bool IsEnabled { get; }

    /// <inheritdoc/>
    public bool TryRaise(CrossoverEvent crossoverEvent)
    {
        ArgumentNullException.ThrowIfNull(crossoverEvent);
        if (!IsEnabled)
        {
            return false;
        }

        if (_channel.Writer.TryWrite(crossoverEvent))
        {
            _metrics.Add(RoutingCounter.CrossoverRaised);
            return true;
        }

        _metrics.Add(RoutingCounter.CrossoverDropped);
        return false;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (IsEnabled)
        {
            var router = _routerFactory();
            _loop = Task.Run(() => RunAsync(router, _abort.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Every other service has stopped: route what is queued, within the shutdown timeout, then end.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _channel.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
        }
    }

    // The container may dispose it twice: it is both the singleton and the hosted service that resolves to it.
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _channel.Writer.TryComplete();
        await _abort.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Aborted.
        }

        _abort.Dispose();
    }

    private async Task RunAsync(MessageRouter router, CancellationToken cancellationToken)
    {
        var reader = _channel.Reader;
        var batch = new List<CloudEvent>(BatchSize);
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (batch.Count < BatchSize && reader.TryRead(out var raised))
            {
                batch.Add(ToCloudEvent(raised));
            }

            try
            {
                await router.PublishAsync(batch).ConfigureAwait(false);
                _metrics.Add(RoutingCounter.CrossoverPublished, batch.Count);
            }
#pragma warning disable CA1031 // A destination that failed its write loses these events (counted, logged); the loop goes on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _metrics.Add(RoutingCounter.CrossoverFailed, batch.Count);
                LogPublishFailed(_logger, batch.Count, ex);
            }

            batch.Clear();
        }

        // Completed: whatever is raised from now on is dropped (TryWrite fails on a completed channel).
    }

    /// <summary>The CloudEvent of a crossover event: a new UUID v7 id, JSON data.</summary>
    internal static CloudEvent ToCloudEvent(CrossoverEvent raised) => new()
    {
        Id = Guid.CreateVersion7(raised.Time).ToString(),
        Type = raised.Type,
        Source = new Uri(raised.Source, UriKind.Relative),
        Subject = raised.Subject,
        Time = raised.Time,
        DataContentType = "application/json",
        Data = ToElement(raised.Data),
    };

    private static JsonElement ToElement(System.Text.Json.Nodes.JsonObject data)
    {
        using var document = JsonDocument.Parse(data.ToJsonString());
        return document.RootElement.Clone();
    }

    [LoggerMessage(2110, LogLevel.Warning, "Routing {Count} crossover events failed; they are lost (iot_crossover_events_failed_total)")]
    private static partial void LogPublishFailed(ILogger logger, int count, Exception exception);
}
