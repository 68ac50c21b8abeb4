using Iot.Messaging.Leases;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// Runs one <see cref="PushDeliveryLoop"/> per webhook subscription, started at host start for the stored
/// subscriptions (so pending deliveries resume after a restart) and restarted or stopped as subscriptions change.
/// Requests in flight over all loops are bounded by <see cref="RoutingOptions.MaxConcurrentDeliveries"/>. Each loop
/// is a singleton (<see cref="ISingletonLeases"/>, lease <c>webhooks.{subscription}</c>): in a cluster it delivers on
/// the node that holds its lease, and another node resumes the pending deliveries when that node dies.
/// </summary>
internal sealed class WebhookDeliveryService : BackgroundService
{
    private readonly EventSubscriptionRegistry _registry;
    private readonly IEventDeliveryStore _store;
    private readonly WebhookSender _sender;
    private readonly DeliverySignals _signals;
    private readonly RoutingMetrics _metrics;
    private readonly RoutingOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<WebhookDeliveryService> _logger;
    private readonly ISingletonLeases _leases;
    private readonly RetrySchedule _schedule;
    private readonly SemaphoreSlim _concurrency;
    private readonly Crossover.SubscriptionCrossover? _crossover;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (PushDeliveryLoop Loop, CancellationTokenSource Stop, Task Task)> _loops = new(StringComparer.Ordinal);

    // Cancelled when the host's shutdown timeout (Iot:Shutdown:DrainTimeout) runs out: requests still in flight are cut short.
    private readonly CancellationTokenSource _abandon = new();
    private CancellationToken _stopping;
    private bool _started;

    public WebhookDeliveryService(EventSubscriptionRegistry registry, IEventDeliveryStore store, WebhookSender sender, DeliverySignals signals,
        RoutingMetrics metrics, IOptions<RoutingOptions> options, TimeProvider timeProvider, ISingletonLeases leases, ILogger<WebhookDeliveryService> logger,
        Crossover.SubscriptionCrossover? crossover = null)
    {
        _crossover = crossover;
        _leases = leases;
        _registry = registry;
        _store = store;
        _sender = sender;
        _signals = signals;
        _metrics = metrics;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _schedule = new RetrySchedule(_options.EffectiveRetrySchedule);
        _concurrency = new SemaphoreSlim(_options.MaxConcurrentDeliveries, _options.MaxConcurrentDeliveries);
        _registry.Changed += OnChanged;
    }

    /// <summary>Names of the subscriptions with a running loop.</summary>
    public IReadOnlyList<string> Running
    {
        get
        {
            lock (_lock)
            {
                return [.. _loops.Keys];
            }
        }
    }

    public override void Dispose()
    {
        _registry.Changed -= OnChanged;
        _concurrency.Dispose();
        _abandon.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Stops the loops between requests; a request in flight completes and is settled unless
    /// <paramref name="cancellationToken"/> (the host's shutdown timeout) runs out first.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        using var abandon = cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _abandon);
        RoutingLog.Stopping(_logger, Running.Count);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lock (_lock)
        {
            _stopping = stoppingToken;
            _started = true;
            foreach (var subscription in _registry.All)
            {
                Start(subscription);
            }
        }

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the loops end below.
        }

        Task[] running;
        lock (_lock)
        {
            _started = false;
            running = [.. _loops.Values.Select(l => l.Task)];
            foreach (var (_, stop, task) in _loops.Values)
            {
                stop.Cancel();
                task.ContinueWith(_ => stop.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }

            _loops.Clear();
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private void OnChanged(CompiledEventSubscription? previous, CompiledEventSubscription? current)
    {
        lock (_lock)
        {
            if (!_started)
            {
                return;
            }

            var name = previous?.Name ?? current!.Name;
            if (_loops.Remove(name, out var old))
            {
                old.Stop.Cancel();
                old.Task.ContinueWith(_ => old.Stop.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }

            if (current is null)
            {
                _signals.Remove(name);
            }
            else
            {
                Start(current);
            }
        }
    }

    private void Start(CompiledEventSubscription subscription)
    {
        if (subscription.Kind != EventDeliveryKind.Webhook)
        {
            return;
        }

        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        var loop = new PushDeliveryLoop(subscription, _store, _sender, _schedule, _signals.For(subscription.Name), _concurrency,
            _options, _metrics, _timeProvider, _logger, _abandon.Token, _crossover);
        _loops[subscription.Name] = (loop, stop, RunAsync(loop, stop));
    }

    /// <summary>The lease of a subscription's delivery loop.</summary>
    internal static string LeaseName(string subscription) => "webhooks." + subscription;

    // The loop boundary: a failure (the store, a bug) is logged and the loop starts over after a pause.
    private async Task RunAsync(PushDeliveryLoop loop, CancellationTokenSource stop)
    {
        await Task.Yield();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await _leases.RunWhileHeldAsync(LeaseName(loop.Subscription.Name), (_, ct) => loop.RunAsync(ct), null, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    RoutingLog.LoopFailed(_logger, loop.Subscription.Name, ex);
                    await Task.Delay(TimeSpan.FromSeconds(1), _timeProvider, stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }
}
