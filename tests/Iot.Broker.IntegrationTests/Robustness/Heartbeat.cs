using System.Diagnostics;
using System.Globalization;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>What the heartbeat saw: every beat must arrive, none more than the allowed gap after the previous one.</summary>
internal sealed record HeartbeatResult(
    int Sent,
    int Received,
    IReadOnlyList<int> Missing,
    TimeSpan MaxGap,
    long MaxGapStart,
    long MaxGapEnd,
    TimeSpan MaxRoundTrip,
    TimeSpan MaxPublishLatency,
    IReadOnlyList<string> Errors)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"heartbeat: {Sent} sent, {Received} received, {Missing.Count} missing, max gap {MaxGap.TotalMilliseconds:F0} ms, " +
        $"max round trip {MaxRoundTrip.TotalMilliseconds:F0} ms, slowest PUBACK {MaxPublishLatency.TotalMilliseconds:F0} ms, {Errors.Count} errors{(Errors.Count > 0 ? ": " + string.Join("; ", Errors.Take(5)) : "")}");
}

/// <summary>
/// A well-behaved MQTT 5 publisher sending a numbered QoS 1 message every 100 ms to a well-behaved MQTT 3.1.1
/// subscriber, both MQTTnet clients; records the gaps between arrivals, the round trips and the PUBACK latencies.
/// </summary>
internal sealed class Heartbeat : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly TestClient _publisher;
    private readonly TestClient _subscriber;
    private readonly string _topic;
    private readonly CancellationTokenSource _stopPublishing = new();
    private readonly CancellationTokenSource _stopReceiving = new();
    private readonly Lock _lock = new();
    private readonly List<long> _sentAt = [];
    private readonly HashSet<int> _received = [];
    private readonly List<string> _errors = [];
    private long _lastArrival;
    private long _maxGap;
    private long _maxGapEnd;
    private long _maxRoundTrip;
    private long _maxPublishLatency;
    private Task _publishing = Task.CompletedTask;
    private Task _receiving = Task.CompletedTask;

    private Heartbeat(TestClient publisher, TestClient subscriber, string topic)
    {
        _publisher = publisher;
        _subscriber = subscriber;
        _topic = topic;
    }

    public static async Task<Heartbeat> StartAsync(BrokerFixture broker)
    {
        var topic = TestIds.Topic("heartbeat");
        var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("hb-sub"), version: MqttProtocolVersion.V311);
        await subscriber.SubscribeAsync(topic);
        var publisher = await TestClient.ConnectAsync(broker, Ids.Client("hb-pub"));
        var heartbeat = new Heartbeat(publisher, subscriber, topic);
        heartbeat._receiving = heartbeat.ReceiveAsync();
        heartbeat._publishing = heartbeat.PublishAsync();
        return heartbeat;
    }

    public Task WaitForBeatsAsync(int count, TimeSpan timeout) =>
        Eventually.WaitUntilAsync(() => { lock (_lock) { return _received.Count >= count; } }, timeout, $"{count} heartbeats received");

    /// <summary>Stops publishing, waits (up to 10 s) for the beats still under way, and reports.</summary>
    public async Task<HeartbeatResult> StopAsync()
    {
        // The silence before the stop counts as a gap too.
        RecordGap(Stopwatch.GetTimestamp());
        await _stopPublishing.CancelAsync();
        await _publishing;
        try
        {
            await Eventually.WaitUntilAsync(() => { lock (_lock) { return _received.Count >= _sentAt.Count; } }, TimeSpan.FromSeconds(10), "the last heartbeats");
        }
        catch (TimeoutException)
        {
            // Reported as missing below.
        }

        await _stopReceiving.CancelAsync();
        await _receiving;
        lock (_lock)
        {
            return new HeartbeatResult(
                _sentAt.Count,
                _received.Count,
                [.. Enumerable.Range(0, _sentAt.Count).Where(i => !_received.Contains(i))],
                Stopwatch.GetElapsedTime(0, _maxGap),
                _maxGapEnd - _maxGap,
                _maxGapEnd,
                Stopwatch.GetElapsedTime(0, _maxRoundTrip),
                Stopwatch.GetElapsedTime(0, _maxPublishLatency),
                [.. _errors]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopPublishing.CancelAsync();
        await _stopReceiving.CancelAsync();
        await Task.WhenAll(_publishing, _receiving);
        await _publisher.DisposeAsync();
        await _subscriber.DisposeAsync();
        _stopPublishing.Dispose();
        _stopReceiving.Dispose();
    }

    private async Task PublishAsync()
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopPublishing.Token))
            {
                int number;
                var sent = Stopwatch.GetTimestamp();
                lock (_lock)
                {
                    number = _sentAt.Count;
                    _sentAt.Add(sent);
                }

                try
                {
                    var result = await _publisher.PublishAsync(_topic, number.ToString(CultureInfo.InvariantCulture), MqttQualityOfServiceLevel.AtLeastOnce);
                    if (!result.IsSuccess)
                    {
                        Error($"beat {number}: PUBACK {result.ReasonCode}");
                    }
                }
                catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException)
                {
                    Error($"beat {number}: {ex.GetType().Name} {ex.Message}");
                }

                lock (_lock)
                {
                    _maxPublishLatency = Math.Max(_maxPublishLatency, Stopwatch.GetTimestamp() - sent);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    private async Task ReceiveAsync()
    {
        while (!_stopReceiving.IsCancellationRequested)
        {
            var message = await _subscriber.TryReceiveAsync(TimeSpan.FromMilliseconds(200));
            var now = Stopwatch.GetTimestamp();
            if (message is null || !int.TryParse(message.ConvertPayloadToString(), CultureInfo.InvariantCulture, out var number))
            {
                continue;
            }

            RecordGap(now);
            lock (_lock)
            {
                _lastArrival = now;
                if (!_received.Add(number))
                {
                    continue; // A QoS 1 duplicate.
                }

                if (number < _sentAt.Count)
                {
                    _maxRoundTrip = Math.Max(_maxRoundTrip, now - _sentAt[number]);
                }
            }
        }
    }

    private void RecordGap(long now)
    {
        lock (_lock)
        {
            if (_lastArrival != 0 && now - _lastArrival > _maxGap)
            {
                _maxGap = now - _lastArrival;
                _maxGapEnd = now;
            }
        }
    }

    private void Error(string error)
    {
        lock (_lock)
        {
            _errors.Add(error);
        }
    }
}
