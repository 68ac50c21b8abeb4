using MQTTnet;

namespace Iot.Simulator.Devices;

internal sealed partial class SimulatedDevice
{
    /// <summary>Share of telemetry messages a flaky device drops.</summary>
    internal const double FlakyDropRate = 0.1;

    /// <summary>Publishes telemetry and events every interval until the connection ends.</summary>
    private async Task PublishLoopAsync(ConnectionSession session)
    {
        var token = session.Token;
        var nextDrop = NextFlakyDrop();
        byte[]? heldBack = null;
        using var timer = new PeriodicTimer(Interval, _timeProvider);
        lock (_gate)
        {
            _timer = timer;
        }

        try
        {
            // The first message goes out at once, so that a new device shows up without waiting an interval.
            do
            {
                if (nextDrop is { } dropAt && _timeProvider.GetUtcNow() >= dropAt)
                {
                    TimeSpan pause;
                    lock (_gate)
                    {
                        pause = TimeSpan.FromMilliseconds(500 + (1500 * _behaviour.NextDouble()));
                    }

                    session.End(ConnectionEnd.FlakyDrop, pause);
                    return;
                }

                DeviceSample sample;
                DateTimeOffset timestamp;
                bool drop, holdBack;
                lock (_gate)
                {
                    timestamp = _timeProvider.GetUtcNow() + _profile.ClockSkew;
                    sample = _model.Sample(timestamp);
                    drop = _profile.IsFlaky && _behaviour.NextDouble() < FlakyDropRate;
                    holdBack = heldBack is null && _options.OutOfOrder > 0 && _behaviour.NextDouble() < _options.OutOfOrder;
                }

                foreach (var deviceEvent in sample.Events)
                {
                    await PublishAsync(session, $"devices/{Id}/events/{deviceEvent.Type}", DevicePayloads.Event(deviceEvent, timestamp), isEvent: true).ConfigureAwait(false);
                }

                if (drop)
                {
                    _stats.Dropped();
                    continue;
                }

                var payload = DevicePayloads.Telemetry(sample.Fields, timestamp);
                if (holdBack)
                {
                    // Sent after the next message, with its older ts: out of order as the broker sees it.
                    heldBack = payload;
                    continue;
                }

                await PublishAsync(session, $"devices/{Id}/telemetry", payload, isEvent: false).ConfigureAwait(false);
                if (heldBack is not null)
                {
                    var late = heldBack;
                    heldBack = null;
                    _stats.SentOutOfOrder();
                    await PublishAsync(session, $"devices/{Id}/telemetry", late, isEvent: false).ConfigureAwait(false);
                }
            }
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false));
        }
        finally
        {
            lock (_gate)
            {
                _timer = null;
            }
        }
    }

    private async Task PublishAsync(ConnectionSession session, string topic, byte[] payload, bool isEvent)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(_options.Qos);
        if (IsVersion5)
        {
            builder = builder.WithContentType("application/json");
        }

        _stats.Published(isEvent);
        var result = await session.Client.PublishAsync(builder.Build(), session.Token).ConfigureAwait(false);
        if (result.IsSuccess)
        {
            _stats.Acked();
        }
        else
        {
            _reporter.ReportError(Id, $"publish to {topic} refused: {result.ReasonCode} {result.ReasonString}");
        }
    }

    /// <summary>When a flaky device drops its connection next: exponentially distributed around the configured mean.</summary>
    private DateTimeOffset? NextFlakyDrop()
    {
        if (!_profile.IsFlaky || _options.FlakyDisconnect <= TimeSpan.Zero)
        {
            return null;
        }

        lock (_gate)
        {
            var factor = -Math.Log(1 - _behaviour.NextDouble());
            return _timeProvider.GetUtcNow() + (_options.FlakyDisconnect * Math.Min(factor, 10));
        }
    }
}
