using System.CommandLine;
using System.Globalization;
using Iot.Cli.Metrics;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot metrics summary</c>: the key figures of <c>/metrics</c> (Prometheus text) for people.</summary>
internal sealed class MetricsGroup : CommandGroup
{
    // The figures shown, in order: a heading, then (label, metric). A metric with labels is shown per label set.
    private static readonly (string Section, (string Label, string Metric)[] Figures)[] Summary =
    [
        ("MQTT",
        [
            ("connections", "iot_mqtt_connections"), ("connections accepted", "iot_mqtt_connections_total"),
            ("connects refused", "iot_mqtt_connect_rejected_total"), ("authentication failures", "iot_mqtt_authentication_failures_total"),
            ("sessions", "iot_mqtt_sessions"), ("subscriptions", "iot_mqtt_subscriptions"), ("retained messages", "iot_mqtt_retained_messages"),
            ("queued messages", "iot_mqtt_queued_messages"), ("messages received", "iot_mqtt_messages_received_total"),
            ("messages sent", "iot_mqtt_messages_sent_total"), ("bytes received", "iot_mqtt_bytes_received_total"), ("bytes sent", "iot_mqtt_bytes_sent_total"),
            ("messages dropped", "iot_mqtt_messages_dropped_total"), ("protocol errors", "iot_mqtt_protocol_errors_total"),
        ]),
        ("Routing",
        [
            ("messages routed", "iot_routing_messages_routed_total"), ("messages unrouted", "iot_routing_messages_unrouted_total"),
            ("deliveries succeeded", "iot_routing_deliveries_succeeded_total"), ("delivery attempts failed", "iot_routing_delivery_attempts_failed_total"),
            ("events dead-lettered", "iot_routing_dead_lettered_total"),
        ]),
        ("Commands",
        [
            ("sent", "iot_commands_sent_total"), ("delivered", "iot_commands_delivered_total"), ("answered", "iot_commands_answered_total"),
            ("dead-lettered", "iot_commands_dead_lettered_total"),
        ]),
        ("Streams", [("next offset", "iot_stream_next_offset")]),
        ("Limits", [("limit hits", "iot_mqtt_limit_hits_total")]),
        ("Cluster", [("nodes", "iot_cluster_nodes"), ("NATS connected", "iot_cluster_nats_connected"), ("cut off", "iot_cluster_cut_off")]),
        ("Process",
        [
            ("resident memory bytes", "process_resident_memory_bytes"), ("open files", "process_open_fds"), ("open files limit", "process_max_fds"),
            ("GC heap bytes", "dotnet_gc_heap_bytes"), ("GC pause seconds", "dotnet_gc_pause_seconds_total"),
        ]),
    ];

    /// <inheritdoc/>
    public override Command Create(CliActions cli) =>
        Command("metrics", "The broker's metrics (/metrics, Prometheus text).",
            cli.Run(Command("summary", "The key figures: connections, messages, drops, routing, commands, streams, limits hit, memory. "
                + "Counters are totals since the broker started; labelled figures show the non-zero ones."), async (c, ct) =>
            {
                var response = await c.Api.GetAsync("/metrics", ct).ConfigureAwait(false);
                var figures = Select(PrometheusText.Parse(response.Body));
                if (c.Json)
                {
                    c.WriteJson(figures.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal));
                    return ExitCodes.Ok;
                }

                var table = new Table("section", "figure", "value");
                foreach (var f in figures)
                {
                    table.Add(f.Section, f.Label, f.Value.ToString("0.######", CultureInfo.InvariantCulture));
                }

                table.Write(c.Out);
                return ExitCodes.Ok;
            }));

    /// <summary>The summary's figures present in <paramref name="samples"/>: unlabelled ones always, labelled ones when not zero.</summary>
    internal static IReadOnlyList<Figure> Select(IReadOnlyList<PrometheusText.Sample> samples)
    {
        var figures = new List<Figure>();
        foreach (var (section, list) in Summary)
        {
            foreach (var (label, metric) in list)
            {
                foreach (var sample in samples.Where(s => s.Name == metric))
                {
                    if (sample.Labels.Count == 0)
                    {
                        figures.Add(new Figure(section, label, sample.Key, sample.Value));
                    }
                    else if (sample.Value != 0 || metric == "iot_stream_next_offset")
                    {
                        var labels = string.Join(", ", sample.Labels.Select(l => $"{l.Key}={l.Value}"));
                        figures.Add(new Figure(section, $"{label} ({labels})", sample.Key, sample.Value));
                    }
                }
            }
        }

        return figures;
    }

    /// <summary>One figure: where it is shown, its label, its metric key and value.</summary>
    internal sealed record Figure(string Section, string Label, string Key, double Value);
}
