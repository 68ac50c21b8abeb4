using System.CommandLine;
using System.Globalization;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot clients</c>: the MQTT clients connected now (<c>GET /api/clients</c>).</summary>
internal sealed class ClientsGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var prefix = new Option<string?>("--prefix") { Description = "Only client ids that start with this." };
        var limit = CliOptions.Number("--limit", "How many clients at most (default 1000)", 1, 10_000);
        return Command("clients", "Connected MQTT clients.",
            cli.Run(Command("list", "List the connected MQTT clients by client id.", prefix, limit), async (c, ct) =>
            {
                var path = Query.With("/api/clients", ("prefix", c.Get(prefix)), ("limit", c.Get(limit)?.ToString(CultureInfo.InvariantCulture)));
                return c.Print(await c.Api.GetAsync(path, ct).ConfigureAwait(false), json =>
                {
                    var table = new Table("client id", "identity", "role", "protocol", "remote", "connected", "keep-alive", "subscriptions", "queued", "persistent");
                    foreach (var client in CliJson.Items(CliJson.Get(json, "clients")))
                    {
                        table.Add(CliJson.Show(client, "clientId"), CliJson.Show(client, "identity"), CliJson.Show(client, "role"), CliJson.Show(client, "protocolVersion"),
                            CliJson.Show(client, "remoteEndPoint"), CliJson.Time(client, "connectedAt"), CliJson.Show(client, "keepAliveSeconds"),
                            CliJson.Show(client, "subscriptions"), CliJson.Show(client, "queuedMessages"), CliJson.Show(client, "persistentSession"));
                    }

                    if (table.Count > 0)
                    {
                        table.Write(c.Out);
                    }

                    var truncated = CliJson.Get(json, "truncated").ValueKind == System.Text.Json.JsonValueKind.True ? $" (first {table.Count} shown)" : "";
                    c.Out.WriteLine($"{CliJson.Show(json, "connected")} connected{truncated}, {CliJson.Show(json, "sessions")} sessions.");
                });
            }));
    }
}
