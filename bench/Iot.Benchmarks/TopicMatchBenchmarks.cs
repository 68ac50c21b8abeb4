using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Iot.Messaging.Topics;
using MQTTnet;

namespace Iot.Benchmarks;

/// <summary>
/// Topic matching on the broker's hot paths, each next to a naive scan that calls MQTTnet's
/// <see cref="MqttTopicFilterComparer"/> on every entry: <see cref="TopicTree{T}.Match"/> for one published
/// topic against 10 000 subscriptions, and <see cref="TopicIndex{T}.Match"/> for one subscription's filter
/// against 100 000 retained topics.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public class TopicMatchBenchmarks
{
    private const string Subscriptions = "Publish vs 10k filters";
    private const string Retained = "Subscribe vs 100k retained";
    private const string PublishedTopic = "devices/1234/telemetry";
    private const string RetainedFilter = "sites/42/devices/+/state";

    private readonly TopicTree<Subscriber> _tree = new();
    private readonly List<(string Filter, Subscriber Subscriber)> _subscriptions = [];
    private readonly List<Subscriber> _subscribers = new(capacity: 1024);

    private readonly TopicIndex<RetainedMessage> _index = new();
    private readonly List<(string Topic, RetainedMessage Message)> _retained = [];
    private readonly List<RetainedMessage> _messages = new(capacity: 4096);

    /// <summary>Builds the 10 000 subscriptions and the 100 000 retained topics.</summary>
    [GlobalSetup]
    public void Setup()
    {
        // 10 000 subscriptions as an IoT back end has them: per-device commands, telemetry and config, per-site
        // status, per-aggregate streams, and a few fleet-wide consumers sharing the same wildcard filters.
        for (int i = 0; i < 5000; i++)
        {
            Subscribe($"devices/{i}/commands/#");
        }

        for (int i = 0; i < 2500; i++)
        {
            Subscribe($"devices/{i}/telemetry");
        }

        for (int i = 0; i < 500; i++)
        {
            Subscribe($"devices/{i}/config");
        }

        for (int i = 0; i < 1000; i++)
        {
            Subscribe($"sites/{i}/+/status");
        }

        for (int i = 0; i < 900; i++)
        {
            Subscribe($"aggregates/{i}/#");
        }

        for (int i = 0; i < 50; i++)
        {
            Subscribe("devices/+/telemetry");
            Subscribe("aggregates/#");
        }

        // 100 000 retained device states: 100 sites of 1 000 devices.
        for (int site = 0; site < 100; site++)
        {
            for (int device = 0; device < 1000; device++)
            {
                string topic = $"sites/{site}/devices/{device}/state";
                var message = new RetainedMessage(topic);
                _index.Set(topic, message);
                _retained.Add((topic, message));
            }
        }
    }

    /// <summary>Every subscription's filter compared with the topic, one by one.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory(Subscriptions)]
    public int PublishScanWithMqttComparer()
    {
        _subscribers.Clear();
        foreach (var (filter, subscriber) in _subscriptions)
        {
            if (MqttTopicFilterComparer.Compare(PublishedTopic, filter) == MqttTopicFilterCompareResult.IsMatch)
            {
                _subscribers.Add(subscriber);
            }
        }

        return _subscribers.Count;
    }

    /// <summary>The same subscriptions in a <see cref="TopicTree{T}"/>.</summary>
    [Benchmark]
    [BenchmarkCategory(Subscriptions)]
    public int PublishTopicTreeMatch()
    {
        _subscribers.Clear();
        _tree.Match(PublishedTopic, _subscribers);
        return _subscribers.Count;
    }

    /// <summary>Every retained topic compared with the filter, one by one.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory(Retained)]
    public int RetainedScanWithMqttComparer()
    {
        _messages.Clear();
        foreach (var (topic, message) in _retained)
        {
            if (MqttTopicFilterComparer.Compare(topic, RetainedFilter) == MqttTopicFilterCompareResult.IsMatch)
            {
                _messages.Add(message);
            }
        }

        return _messages.Count;
    }

    /// <summary>The same retained topics in a <see cref="TopicIndex{T}"/>.</summary>
    [Benchmark]
    [BenchmarkCategory(Retained)]
    public int RetainedTopicIndexMatch()
    {
        _messages.Clear();
        _index.Match(RetainedFilter, _messages);
        return _messages.Count;
    }

    private void Subscribe(string filter)
    {
        var subscriber = new Subscriber(_subscriptions.Count);
        _tree.Add(filter, subscriber);
        _subscriptions.Add((filter, subscriber));
    }

    private sealed class Subscriber(int id)
    {
        public int Id { get; } = id;
    }

    private sealed class RetainedMessage(string topic)
    {
        public string Topic { get; } = topic;
    }
}
