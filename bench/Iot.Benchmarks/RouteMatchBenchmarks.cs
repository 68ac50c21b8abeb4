using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;

namespace Iot.Benchmarks;

/// <summary>
/// Route matching as the broker calls it for every publish: 10 000 routes (5 000 with a JSON payload condition)
/// against 100 000 distinct topics. <see cref="MatchTopics"/> is the topic-tree lookup alone;
/// <see cref="RouteMessages"/> is <see cref="IMessageRouter.RouteAsync"/> end to end (lookup, conditions, event
/// envelope, hand-off to a destination that records nothing), i.e. the cost on the publisher's path.
/// Both report the cost per topic (OperationsPerInvoke = 100 000).
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // Disposed in the [GlobalCleanup] method.
public class RouteMatchBenchmarks
#pragma warning restore CA1001
{
    private const int Topics = 100_000;
    private readonly List<CompiledRoute> _matches = new(capacity: 64);
    private string _directory = "";
    private SqliteRoutingStore _store = null!;
    private RouteTable _table = null!;
    private MessageRouter _router = null!;
    private RoutedMessage[] _messages = [];

    /// <summary>Builds the routes and the topics.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
        _store = new SqliteRoutingStore(Path.Combine(_directory, "routing.db"));
        var hot = JsonSerializer.Deserialize<EventCondition>("""{"operatorType":"NumberGreaterThan","key":"data.t","value":30}""", RoutingJson.Options)!;
        var routes = new List<RouteDefinition>(10_000);
        for (int i = 0; i < 5000; i++)
        {
            routes.Add(new RouteDefinition { Name = $"hot-{i}", Source = $"devices/{i}/telemetry", Conditions = [hot] });
        }

        for (int i = 0; i < 4000; i++)
        {
            routes.Add(new RouteDefinition { Name = $"events-{i}", Source = $"devices/{i}/events/#" });
        }

        for (int i = 0; i < 1000; i++)
        {
            routes.Add(new RouteDefinition { Name = $"site-{i}", Source = $"sites/{i}/+/status" });
        }

        var destination = new NullDestination();
        _table = new RouteTable(_store, [destination], routes, defaultRoute: false);
        _router = new MessageRouter(_table, new RoutingMetrics(), TimeProvider.System);

        // 100 000 distinct topics: half telemetry (half of it matching a route), events, site status, and topics no route matches.
        var payload = Encoding.UTF8.GetBytes("""{"t":35.5,"h":40}""");
        _messages = new RoutedMessage[Topics];
        for (int i = 0; i < Topics; i++)
        {
            string topic = (i % 4) switch
            {
                0 or 1 => $"devices/{i / 2}/telemetry",
                2 => $"devices/{i / 25}/events/e{i}",
                _ => i % 8 == 3 ? $"sites/{i / 100}/zone{i}/status" : $"other/{i}/x",
            };
            _messages[i] = new RoutedMessage { Topic = topic, Payload = payload, QualityOfService = 1, ReceivedAt = DateTimeOffset.UnixEpoch };
        }
    }

    /// <summary>Deletes the store.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _table.Dispose();
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Topic-tree lookup of the routes of each topic.</summary>
    [Benchmark(OperationsPerInvoke = Topics)]
    public int MatchTopics()
    {
        int found = 0;
        foreach (var message in _messages)
        {
            _table.Match(message.Topic, _matches);
            found += _matches.Count;
            _matches.Clear();
        }

        return found;
    }

    /// <summary>The router's full publish-path work per message.</summary>
    [Benchmark(OperationsPerInvoke = Topics)]
    public int RouteMessages()
    {
        int pending = 0;
        foreach (var message in _messages)
        {
            if (!_router.RouteAsync(message).IsCompleted)
            {
                pending++;
            }
        }

        return pending;
    }

    private sealed class NullDestination : IRouteDestination
    {
        public string Kind => "eventSubscription";

        public bool IsValidTarget(string? name) => true;

        public Task DeliverAsync(IRoutedEvent routedEvent, IReadOnlyList<string?> targets) => Task.CompletedTask;
    }
}
