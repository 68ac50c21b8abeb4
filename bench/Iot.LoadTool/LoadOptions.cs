using System.Globalization;

namespace Iot.LoadTool;

/// <summary>Command line of one run: <c>fanin|fanout [--qos 0|1] [--publishers N] [--subscribers N] ...</c>.</summary>
internal sealed record LoadOptions(
    string Scenario,
    string Host,
    int Port,
    int Qos,
    int Publishers,
    int Subscribers,
    int Payload,
    int Seconds,
    int WarmupSeconds,
    int? BrokerPid,
    int? SubscriberPort = null)
{
    public const string Usage =
        "usage: Iot.LoadTool fanin|fanout --port N [--host 127.0.0.1] [--qos 0|1] [--publishers 50] "
        + "[--subscribers 100] [--payload 64] [--seconds 10] [--warmup 2] [--broker-pid N] [--subscriber-port N (another cluster node)]";

    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("fanin" or "fanout"))
        {
            throw new ArgumentException(
                "The first argument must be the scenario: fanin, fanout, telemetry-fanin, latency, stream, idle, retained, slowconsumer, events or aggregates.");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected '--name value' at '{args[i]}'.");
            }

            values[args[i][2..]] = args[++i];
        }

        int Int(string name, int fallback) =>
            values.Remove(name, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

        var host = values.Remove("host", out var h) ? h : "127.0.0.1";
        var options = new LoadOptions(
            args[0],
            host,
            Int("port", 1883),
            Int("qos", 0),
            Int("publishers", 50),
            Int("subscribers", 100),
            Int("payload", 64),
            Int("seconds", 10),
            Int("warmup", 2),
            values.ContainsKey("broker-pid") ? Int("broker-pid", 0) : null,
            values.ContainsKey("subscriber-port") ? Int("subscriber-port", 0) : null);

        if (values.Count > 0)
        {
            throw new ArgumentException($"Unknown option(s): {string.Join(", ", values.Keys)}.");
        }

        if (options.Qos is not (0 or 1) || (options.Scenario == "fanout" && options.Qos != 0))
        {
            throw new ArgumentException("--qos must be 0 or 1 (fanout: 0 only).");
        }

        return options;
    }
}
