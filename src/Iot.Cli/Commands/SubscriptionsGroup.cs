using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary>
/// <c>iot subscriptions</c>: event subscriptions (<c>/api/subscriptions</c>): webhook, pull or MQTT destinations, their
/// dead letters and redelivery.
/// </summary>
internal sealed class SubscriptionsGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var name = CliOptions.Text("name", "The subscription name.");
        var max = CliOptions.Number("--max", "Dead letters to show (default 100)", 1, 100_000);
        var eventIds = new Option<string[]>("--event-id") { Description = "Redeliver only these events (repeatable; default: every dead letter)." };
        return Command("subscriptions", "Event subscriptions: create, list, delete, dead letters, redeliver.",
            cli.Run(Command("list", "List the subscriptions with their pending and dead-lettered events."), ListAsync),
            cli.Run(Command("get", "Show a subscription.", name), async (c, ct) =>
                c.PrintProperties(await c.Api.GetAsync(Path(c.Get(name)), ct).ConfigureAwait(false), Properties)),
            CreateCommand(cli, name),
            cli.Run(Command("delete", "Delete a subscription with its pending and dead-lettered events.", name), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, Path(c.Get(name)), null, ct).ConfigureAwait(false);
                c.Note($"Deleted subscription '{c.Get(name)}'.");
                return ExitCodes.Ok;
            }),
            cli.Run(Command("deadletters", "Show a subscription's dead-lettered events, oldest first.", name, max), async (c, ct) =>
            {
                var path = Query.With(Path(c.Get(name)) + "/deadletters", ("maxEvents", c.Get(max)?.ToString(CultureInfo.InvariantCulture)));
                return c.Print(await c.Api.GetAsync(path, ct).ConfigureAwait(false), json =>
                {
                    var table = new Table("event id", "type", "subject", "reason", "attempts", "dead-lettered", "last outcome");
                    foreach (var d in CliJson.Items(CliJson.Get(json, "value")))
                    {
                        var cloudEvent = CliJson.Get(d, "event");
                        table.Add(CliJson.Show(d, "eventId"), CliJson.Show(cloudEvent, "type"), CliJson.Show(cloudEvent, "subject"), CliJson.Show(d, "reason"),
                            CliJson.Show(d, "deliveryAttempts"), CliJson.Time(d, "deadLetteredAt"), CliJson.Show(d, "lastOutcome"));
                    }

                    if (table.Count == 0)
                    {
                        c.Out.WriteLine("No dead letters.");
                    }
                    else
                    {
                        table.Write(c.Out);
                    }
                });
            }),
            cli.Run(Command("redeliver", "Deliver dead-lettered events again (with 0 attempts and a new TTL).", name, eventIds), async (c, ct) =>
            {
                var ids = c.Get(eventIds);
                var response = await c.Api.SendJsonAsync(HttpMethod.Post, Path(c.Get(name)) + "/deadletters:redeliver",
                    new { EventIds = ids is { Length: > 0 } ? ids : null }, ct).ConfigureAwait(false);
                return c.Print(response, json => c.Out.WriteLine($"Redelivered {CliJson.Show(json, "redelivered")} event(s)."));
            }));
    }

    private static string Path(string name) => "/api/subscriptions/" + Query.Segment(name);

    private static Command CreateCommand(CliActions cli, Argument<string> name)
    {
        var webhook = new Option<string?>("--webhook") { Description = "Deliver to this http(s) URL (CloudEvents; validation handshake first).", HelpName = "url" };
        webhook.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } url
                && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
            {
                r.AddError($"--webhook '{url}' is not an http:// or https:// URL.");
            }
        });
        var pull = new Option<bool>("--pull") { Description = "Keep events for pull receivers (events:receive)." };
        var mqtt = new Option<string?>("--mqtt") { Description = "Publish each event (structured CloudEvent) to this MQTT topic." };
        var topicFilter = new Option<string?>("--topic-filter") { Description = "Only events whose subject (MQTT topic) matches this filter." };
        var eventTypes = new Option<string[]>("--event-type") { Description = "Only these event types, e.g. iot.device.event.alarm (repeatable)." };
        var conditions = Conditions.Option("Conditions on the event (the API's JSON).");
        var maxAttempts = CliOptions.Number("--max-delivery-attempts", "Webhook attempts before dead-lettering (default 30)", 1, 30);
        var eventTtl = CliOptions.OptionalDuration("--event-ttl", "How long an event may wait for delivery (1m-7d, default 1d).");
        var noDeadLetter = new Option<bool>("--no-dead-letter") { Description = "Drop events that cannot be delivered instead of dead-lettering them." };
        var command = Command("create", "Create or replace a subscription (PUT); give exactly one of --webhook, --pull and --mqtt.",
            name, webhook, pull, mqtt, topicFilter, eventTypes, conditions, maxAttempts, eventTtl, noDeadLetter);
        command.Validators.Add(r =>
        {
            if ((r.GetResult(webhook) is null ? 0 : 1) + (r.GetValue(pull) ? 1 : 0) + (r.GetResult(mqtt) is null ? 0 : 1) != 1)
            {
                r.AddError("Give exactly one destination: --webhook <url>, --pull or --mqtt <topic>.");
            }
        });
        return cli.Run(command, async (c, ct) =>
        {
            var types = c.Get(eventTypes);
            var body = new
            {
                Name = c.Get(name),
                Filter = new { TopicFilter = c.Get(topicFilter), IncludedEventTypes = types is { Length: > 0 } ? types : null, Conditions = Conditions.Read(c.Get(conditions)) },
                Destination = c.Get(webhook) is { } url ? new { Kind = "webhook", EndpointUrl = (string?)url, Topic = (string?)null }
                    : c.Get(mqtt) is { } topic ? new { Kind = "mqtt", EndpointUrl = (string?)null, Topic = (string?)topic }
                    : new { Kind = "pull", EndpointUrl = (string?)null, Topic = (string?)null },
                RetryPolicy = new { MaxDeliveryAttempts = c.Get(maxAttempts), EventTtl = c.Get(eventTtl) is { } ttl ? Durations.ToApi(ttl) : null },
                DeadLetter = new { Enabled = !c.Get(noDeadLetter) },
            };
            var response = await c.Api.SendJsonAsync(HttpMethod.Put, Path(c.Get(name)), body, ct).ConfigureAwait(false);
            c.PrintProperties(response, Properties);
            c.Note(response.Status == 201 ? $"Created subscription '{c.Get(name)}'." : $"Replaced subscription '{c.Get(name)}'.");
            return ExitCodes.Ok;
        });
    }

    private static async Task<int> ListAsync(CliContext c, CancellationToken ct) =>
        c.Print(await c.Api.GetAsync("/api/subscriptions", ct).ConfigureAwait(false), json =>
        {
            var table = new Table("name", "destination", "topic filter", "pending", "dead-lettered");
            foreach (var s in CliJson.Items(json))
            {
                table.Add(CliJson.Show(s, "name"), Destination(s), CliJson.Show(CliJson.Get(s, "filter"), "topicFilter"),
                    CliJson.Show(s, "pendingEvents"), CliJson.Show(s, "deadLetteredEvents"));
            }

            table.Write(c.Out);
        });

    private static string Destination(JsonElement subscription)
    {
        var d = CliJson.Get(subscription, "destination");
        return CliJson.Text(d, "kind") switch
        {
            "webhook" => "webhook " + CliJson.Show(d, "endpointUrl"),
            "mqtt" => "mqtt " + CliJson.Show(d, "topic"),
            var kind => kind ?? "-",
        };
    }

    private static IEnumerable<(string, string?)> Properties(JsonElement s) =>
    [
        ("Name", CliJson.Show(s, "name")),
        ("Destination", Destination(s)),
        ("Filter", CliJson.Show(s, "filter")),
        ("Retry policy", CliJson.Show(s, "retryPolicy")),
        ("Dead letter", CliJson.Show(s, "deadLetter")),
        ("Pending events", CliJson.Show(s, "pendingEvents")),
        ("Dead-lettered events", CliJson.Show(s, "deadLetteredEvents")),
    ];
}
