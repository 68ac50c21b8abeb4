using System.Globalization;
using Iot.LoadTool;

// One scenario per invocation; one line of key=value pairs on stdout for scripts to parse.
if (args.Length > 0 && args[0] == "events")
{
    return await EventsScenario.RunAsync(args);
}

if (args.Length > 0 && args[0] == "aggregates")
{
    return await AggregateLatencyScenario.RunAsync(args);
}

switch (args.Length > 0 ? args[0] : "")
{
    case "latency":
        return await LatencyScenario.RunAsync(args);
    case "stream":
        return await StreamScenario.RunAsync(args);
    case "idle":
        return await IdleScenario.RunAsync(args);
    case "retained":
        return await RetainedScenario.RunAsync(args);
    case "slowconsumer":
        return await SlowConsumerScenario.RunAsync(args);
    case "telemetry-fanin":
        return await TelemetryFanInScenario.RunAsync(args);
    default:
        break;
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    await Console.Error.WriteLineAsync(ex.Message);
    foreach (var usage in new[] { LoadOptions.Usage, LatencyScenario.Usage, StreamScenario.Usage, IdleScenario.Usage, RetainedScenario.Usage, SlowConsumerScenario.Usage, EventsScenario.Usage, TelemetryFanInScenario.Usage })
    {
        await Console.Error.WriteLineAsync(usage);
    }

    return 2;
}

using var run = new LoadRun(options);
var result = await run.RunAsync();

var inv = CultureInfo.InvariantCulture;
var rate = result.Delivered / result.Seconds;
var toolCpuPct = 100 * result.ToolCpuSeconds / result.Seconds;
var brokerCpuPct = result.BrokerCpuSeconds is { } b ? (100 * b / result.Seconds).ToString("F1", inv) : "NA";
var brokerUsPerMsg = result.BrokerCpuSeconds is { } c && result.Delivered > 0
    ? (c * 1e6 / result.Delivered).ToString("F3", inv)
    : "NA";
var fanin = options.Scenario == "fanin";

Console.WriteLine(string.Create(
    inv,
    $"scenario={options.Scenario} qos={options.Qos} publishers={(fanin ? options.Publishers : 1)} subscribers={(fanin ? 1 : options.Subscribers)} "
    + $"payload={options.Payload} seconds={result.Seconds:F2} delivered={result.Delivered} msgs_per_s={rate:F0} "
    + $"tool_cpu_pct={toolCpuPct:F1} broker_cpu_pct={brokerCpuPct} broker_us_per_msg={brokerUsPerMsg} "
    + $"lost={result.Lost} stalls={result.Stalls} errors={result.Errors} malformed={result.Malformed}"));
return result.Errors > 0 || result.Malformed > 0 ? 1 : 0;
