using System.CommandLine;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot routes</c>: routing rules, topic filter + conditions to a destination (<c>/api/routes</c>).</summary>
internal sealed class RoutesGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var name = CliOptions.Text("name", "The route name.");
        var source = new Option<string>("--source") { Description = "The MQTT topic filter messages must match (default #).", DefaultValueFactory = _ => "#" };
        var to = new Option<string>("--to")
        {
            Description = "The destination as kind[:name]: stream:telemetry, commandQueue:work, eventSubscription (every subscription) or eventSubscription:alarms.",
            HelpName = "kind[:name]",
            Required = true,
        };
        var conditions = Conditions.Option("Conditions every message must meet (the API's JSON), e.g. '{\"operatorType\":\"NumberGreaterThan\",\"key\":\"data.temperature\",\"value\":30}'.");
        var disabled = new Option<bool>("--disabled") { Description = "Store the route switched off." };

        return Command("routes", "Routes: source topic filter + conditions -> a stream, queue or event subscriptions.",
            cli.Run(Command("list", "List the routes with their origin and match count."), ListAsync),
            cli.Run(Command("get", "Show a route.", name), async (c, ct) =>
                c.PrintProperties(await c.Api.GetAsync(Path(c.Get(name)), ct).ConfigureAwait(false), Properties)),
            cli.Run(Command("set", "Create or replace a route (PUT).", name, source, to, conditions, disabled), async (c, ct) =>
            {
                var target = c.Get(to);
                var colon = target.IndexOf(':', StringComparison.Ordinal);
                var body = new
                {
                    Name = c.Get(name),
                    Source = c.Get(source),
                    Conditions = Conditions.Read(c.Get(conditions)),
                    Destination = new { Kind = colon < 0 ? target : target[..colon], Name = colon < 0 ? null : target[(colon + 1)..] },
                    Enabled = !c.Get(disabled),
                };
                var response = await c.Api.SendJsonAsync(HttpMethod.Put, Path(c.Get(name)), body, ct).ConfigureAwait(false);
                c.PrintProperties(response, Properties);
                c.Note(response.Status == 201 ? $"Created route '{c.Get(name)}'." : $"Replaced route '{c.Get(name)}'.");
                return ExitCodes.Ok;
            }),
            cli.Run(Command("delete", "Delete a route (built-in and configured routes are read-only).", name), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, Path(c.Get(name)), null, ct).ConfigureAwait(false);
                c.Note($"Deleted route '{c.Get(name)}'.");
                return ExitCodes.Ok;
            }));
    }

    private static string Path(string name) => "/api/routes/" + Query.Segment(name);

    private static async Task<int> ListAsync(CliContext c, CancellationToken ct) =>
        c.Print(await c.Api.GetAsync("/api/routes", ct).ConfigureAwait(false), json =>
        {
            var table = new Table("name", "source", "destination", "conditions", "enabled", "origin", "matched");
            foreach (var r in CliJson.Items(json))
            {
                table.Add(CliJson.Show(r, "name"), CliJson.Show(r, "source"), Destination(r), CliJson.Items(CliJson.Get(r, "conditions")).Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    CliJson.Show(r, "enabled"), CliJson.Show(r, "origin"), CliJson.Show(r, "matched"));
            }

            table.Write(c.Out);
        });

    private static string Destination(JsonElement route)
    {
        var destination = CliJson.Get(route, "destination");
        return CliJson.Text(destination, "name") is { } name ? $"{CliJson.Text(destination, "kind")}:{name}" : CliJson.Show(destination, "kind");
    }

    private static IEnumerable<(string, string?)> Properties(JsonElement r) =>
    [
        ("Name", CliJson.Show(r, "name")),
        ("Source", CliJson.Show(r, "source")),
        ("Destination", Destination(r)),
        ("Conditions", CliJson.Show(r, "conditions")),
        ("Enabled", CliJson.Show(r, "enabled")),
        ("Origin", CliJson.Show(r, "origin")),
        ("Matched", CliJson.Show(r, "matched")),
    ];
}
