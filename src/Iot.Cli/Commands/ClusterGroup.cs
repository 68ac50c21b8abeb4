using System.CommandLine;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot cluster</c>: the mode this broker runs in and the nodes it knows (<c>GET /api/cluster</c>).</summary>
internal sealed class ClusterGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli) =>
        Command("cluster", "Cluster mode: this node, NATS and the nodes it knows.",
            cli.Run(Command("status", "Show the mode (single or cluster), the NATS connection and every node with its last heartbeat."), async (c, ct) =>
                c.Print(await c.Api.GetAsync("/api/cluster", ct).ConfigureAwait(false), json =>
                {
                    var nats = CliJson.Get(json, "nats");
                    Table.WriteProperties(c.Out,
                    [
                        ("Mode", CliJson.Show(json, "mode")),
                        ("Node", CliJson.Show(json, "nodeId")),
                        ("Incarnation", CliJson.Text(json, "incarnation")),
                        ("NATS", CliJson.Text(nats, "state") is { } state ? $"{state} {CliJson.Show(nats, "server")} ({CliJson.Show(nats, "serverName")})" : null),
                        ("Cut off", CliJson.Show(json, "cutOff")),
                    ]);
                    c.Out.WriteLine();
                    var table = new Table("node", "alive", "self", "host", "mqtt", "http", "connections", "heartbeat", "version");
                    foreach (var n in CliJson.Items(CliJson.Get(json, "nodes")))
                    {
                        table.Add(CliJson.Show(n, "nodeId"), CliJson.Show(n, "alive"), CliJson.Show(n, "self"), CliJson.Show(n, "host"), CliJson.Show(n, "mqttPort"),
                            CliJson.Show(n, "httpPort"), CliJson.Show(n, "connections"), CliJson.Time(n, "heartbeatAt"), CliJson.Show(n, "version"));
                    }

                    table.Write(c.Out);
                })));
}
