using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Iot.LoadTool;

/// <summary>
/// The broker's own count of messages it dropped for full queues, where it tells: the Iot broker's
/// <c>iot_mqtt_messages_dropped_total</c> on <c>/metrics</c> (<c>--metrics-url</c>), or Mosquitto's
/// <c>$SYS/broker/publish/messages/dropped</c> (<c>--sys-dropped 1</c>; published every <c>sys_interval</c> seconds,
/// so the reading after a run waits for the next update).
/// </summary>
internal abstract class DropCounter : IDisposable
{
    public static async Task<DropCounter?> CreateAsync(ScenarioArguments arguments, string host, int port, BackgroundLoops loops, CancellationToken ct)
    {
        if (arguments.Text("metrics-url", "") is { Length: > 0 } url)
        {
            return new PrometheusDropCounter(new Uri(url));
        }

        if (arguments.Int("sys-dropped", 0) != 0)
        {
            var connection = await MqttConnection.ConnectAsync(host, port, $"dc{Environment.ProcessId}", ct);
            var sink = new SysSink();
            await connection.SendAsync(MqttWire.Subscribe(1, "$SYS/broker/publish/messages/dropped", 0), ct);
            loops.Watch(connection.ReadLoopAsync(sink, ct));
            return new SysDropCounter(connection, sink);
        }

        return null;
    }

    /// <summary>The current count; <paramref name="fresh"/> asks for a value published after this call (Mosquitto).</summary>
    public abstract Task<long?> ReadAsync(bool fresh, CancellationToken ct);

    public abstract void Dispose();

    private sealed class PrometheusDropCounter(Uri url) : DropCounter
    {
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

        public override async Task<long?> ReadAsync(bool fresh, CancellationToken ct)
        {
            var text = await _http.GetStringAsync(url, ct);
            long total = 0;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("iot_mqtt_messages_dropped_total{", StringComparison.Ordinal) && line.Contains("queue_full", StringComparison.Ordinal))
                {
                    total += (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }

            return total;
        }

        public override void Dispose() => _http.Dispose();
    }

    private sealed class SysDropCounter(MqttConnection connection, SysSink sink) : DropCounter
    {
        public override async Task<long?> ReadAsync(bool fresh, CancellationToken ct)
        {
            var asked = Stopwatch.GetTimestamp();
            var deadline = asked + (15 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var (value, at) = sink.Latest;
                if (value is not null && (!fresh || at > asked))
                {
                    return value;
                }

                await Task.Delay(100, ct);
            }

            return null;
        }

        public override void Dispose() => connection.Dispose();
    }

    private sealed class SysSink : IPacketSink
    {
        private readonly object _gate = new();
        private long? _value;
        private long _at;

        public (long? Value, long At) Latest
        {
            get
            {
                lock (_gate)
                {
                    return (_value, _at);
                }
            }
        }

        public void OnPacket(byte header, ReadOnlySpan<byte> body)
        {
            if (header >> 4 != MqttWire.PublishType)
            {
                return;
            }

            var topicLength = (body[0] << 8) | body[1];
            var qos = (header >> 1) & 3;
            var payload = Encoding.ASCII.GetString(body[(2 + topicLength + (qos > 0 ? 2 : 0))..]);
            if (long.TryParse(payload, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                lock (_gate)
                {
                    _value = value;
                    _at = Stopwatch.GetTimestamp();
                }
            }
        }

        public ValueTask OnBatchEndAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
