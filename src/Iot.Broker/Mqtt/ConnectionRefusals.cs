using System.Globalization;
using System.Text;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Refused connections, logged each at Debug (event 1012) and summed up at Information at most once per interval
/// (event 1171, counts per reason), so that a flood of refused connections cannot flood the log. The summary timer runs
/// only while there are refusals to report.
/// </summary>
internal sealed class ConnectionRefusals(ILogger logger, TimeProvider time, TimeSpan interval)
{
    /// <summary>The key of a connection that sent no CONNECT in time (no CONNACK reason code is 0 in a refusal).</summary>
    public const MqttConnectReasonCode ConnectTimeout = MqttConnectReasonCode.Success;

    private readonly long[] _counts = new long[256];
    private readonly Lock _gate = new();
    private ITimer? _timer;

    /// <summary>Logs one refused connection at Debug and counts it for the next summary.</summary>
    public void Add(MqttConnectReasonCode reason, string connectionId, string detail)
    {
        BrokerLog.ConnectionRejected(logger, connectionId, detail);
        Interlocked.Increment(ref _counts[(byte)reason]);
        if (Volatile.Read(ref _timer) is null)
        {
            lock (_gate)
            {
                _timer ??= time.CreateTimer(static state => ((ConnectionRefusals)state!).Summarize(), this, interval, interval);
            }
        }
    }

    /// <summary>Logs the counts since the last summary, if any; stops the timer after an interval without refusals.</summary>
    internal void Summarize()
    {
        long total = 0;
        StringBuilder? reasons = null;
        for (var code = 0; code < _counts.Length; code++)
        {
            var count = Interlocked.Exchange(ref _counts[code], 0);
            if (count == 0)
            {
                continue;
            }

            total += count;
            reasons = reasons is null ? new StringBuilder() : reasons.Append(", ");
            var name = (MqttConnectReasonCode)code == ConnectTimeout ? "NoConnectInTime" : ((MqttConnectReasonCode)code).ToString();
            reasons.Append(CultureInfo.InvariantCulture, $"{name} {count}");
        }

        if (reasons is not null)
        {
            var text = reasons.ToString();
            BrokerLog.ConnectionsRefused(logger, total, interval.TotalSeconds, text);
            return;
        }

        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;

            // A refusal counted after the sweep above but before the timer was gone would otherwise wait for the next one.
            if (AnyCounted())
            {
                _timer = time.CreateTimer(static state => ((ConnectionRefusals)state!).Summarize(), this, interval, interval);
            }
        }
    }

    private bool AnyCounted()
    {
        for (var code = 0; code < _counts.Length; code++)
        {
            if (Volatile.Read(ref _counts[code]) != 0)
            {
                return true;
            }
        }

        return false;
    }
}
