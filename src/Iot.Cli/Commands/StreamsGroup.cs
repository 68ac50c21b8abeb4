using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot streams</c>: partitioned streams (<c>/api/streams</c>): list, create, read, consumer groups and their lag.</summary>
internal sealed class StreamsGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var stream = CliOptions.Text("stream", "The stream name, e.g. telemetry.");
        var group = CliOptions.Text("group", "The consumer group.");
        return Command("streams", "Partitioned streams: list, create, read, consumer groups and their lag.",
            cli.Run(Command("list", "List the streams with their partitions and record counts."), ListAsync),
            cli.Run(Command("get", "Show a stream and each partition's offsets.", stream), GetAsync(stream)),
            CreateCommand(cli, stream),
            ReadCommand(cli, stream),
            cli.Run(Command("groups", "List a stream's consumer groups with their total lag.", stream), GroupsAsync(stream)),
            cli.Run(Command("lag", "Show a consumer group's committed offset and lag per partition.", stream, group), LagAsync(stream, group)),
            cli.Run(Command("create-group", "Create a consumer group (it starts with no committed offset).", stream, group), async (c, ct) =>
            {
                var response = await c.Api.SendJsonAsync(HttpMethod.Put, $"{Path(c.Get(stream))}/groups/{Query.Segment(c.Get(group))}", null, ct).ConfigureAwait(false);
                if (c.Json)
                {
                    c.WriteJson(response);
                }

                c.Note(response.Status == 201 ? $"Created consumer group '{c.Get(group)}'." : $"Consumer group '{c.Get(group)}' exists.");
                return ExitCodes.Ok;
            }),
            cli.Run(Command("delete-group", "Delete a consumer group and its committed offsets.", stream, group), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, $"{Path(c.Get(stream))}/groups/{Query.Segment(c.Get(group))}", null, ct).ConfigureAwait(false);
                c.Note($"Deleted consumer group '{c.Get(group)}'.");
                return ExitCodes.Ok;
            }));
    }

    private static string Path(string stream) => "/api/streams/" + Query.Segment(stream);

    private static async Task<int> ListAsync(CliContext c, CancellationToken ct) =>
        c.Print(await c.Api.GetAsync("/api/streams", ct).ConfigureAwait(false), json =>
        {
            var table = new Table("name", "partitions", "records", "retention", "retention bytes");
            foreach (var s in CliJson.Items(json))
            {
                var records = CliJson.Items(CliJson.Get(s, "partitionOffsets")).Sum(p => (CliJson.Long(p, "nextOffset") ?? 0) - (CliJson.Long(p, "startOffset") ?? 0));
                table.Add(CliJson.Show(s, "name"), CliJson.Show(s, "partitions"), records.ToString(CultureInfo.InvariantCulture),
                    CliJson.Show(s, "retention"), CliJson.Show(s, "retentionBytes"));
            }

            table.Write(c.Out);
        });

    private static Func<CliContext, CancellationToken, Task<int>> GetAsync(Argument<string> stream) => async (c, ct) =>
        c.Print(await c.Api.GetAsync(Path(c.Get(stream)), ct).ConfigureAwait(false), json =>
        {
            Table.WriteProperties(c.Out,
            [
                ("Name", CliJson.Show(json, "name")),
                ("Partitions", CliJson.Show(json, "partitions")),
                ("Retention", CliJson.Show(json, "retention")),
                ("Retention bytes", CliJson.Show(json, "retentionBytes")),
            ]);
            c.Out.WriteLine();
            var table = new Table("partition", "start offset", "next offset");
            foreach (var p in CliJson.Items(CliJson.Get(json, "partitionOffsets")))
            {
                table.Add(CliJson.Show(p, "partition"), CliJson.Show(p, "startOffset"), CliJson.Show(p, "nextOffset"));
            }

            table.Write(c.Out);
        });

    private static Command CreateCommand(CliActions cli, Argument<string> stream)
    {
        var partitions = CliOptions.Number("--partitions", "Partitions (default 4; cannot change later)", 1, 256);
        var retention = CliOptions.OptionalDuration("--retention", "How long records are kept (default 7d, at least 1m).");
        var retentionBytes = new Option<long?>("--retention-bytes") { Description = "Bytes kept per partition (default: no limit)." };
        return cli.Run(Command("create", "Create a stream (409 when it exists with another definition).", stream, partitions, retention, retentionBytes), async (c, ct) =>
        {
            var body = new { Partitions = c.Get(partitions), Retention = c.Get(retention) is { } r ? Durations.ToApi(r) : null, RetentionBytes = c.Get(retentionBytes) };
            var response = await c.Api.SendJsonAsync(HttpMethod.Put, Path(c.Get(stream)), body, ct).ConfigureAwait(false);
            c.PrintProperties(response, json => [("Name", CliJson.Show(json, "name")), ("Partitions", CliJson.Show(json, "partitions")), ("Retention", CliJson.Show(json, "retention"))]);
            c.Note(response.Status == 201 ? $"Created stream '{c.Get(stream)}'." : $"Stream '{c.Get(stream)}' exists with this definition.");
            return ExitCodes.Ok;
        });
    }

    private static Command ReadCommand(CliActions cli, Argument<string> stream)
    {
        var partition = new Option<int?>("--partition", "-p") { Description = "The partition (default: every partition, one after the other)." };
        var offset = new Option<long?>("--offset") { Description = "Read from this offset." };
        var time = new Option<DateTimeOffset?>("--time") { Description = "Read from the first record at or after this time (ISO 8601)." };
        var from = new Option<string?>("--from") { Description = "start (default) or end; with --group, where to start when the group has no committed offset." };
        from.AcceptOnlyFromAmong("start", "end");
        var max = CliOptions.Number("--max", "Records per partition (default 100)", 1, 1000);
        var wait = CliOptions.Duration("--wait", "Long poll: wait this long (0-60 s) for a record when there is none yet.", TimeSpan.Zero);
        var group = new Option<string?>("--group", "-g") { Description = "Read from this consumer group's committed offset (reading does not commit)." };
        var command = Command("read", "Read records of a stream. --json prints the API's answer per partition, one JSON document per line.",
            stream, partition, offset, time, from, max, wait, group);
        command.Validators.Add(r =>
        {
            if (new Option[] { offset, time, from }.Count(o => r.GetResult(o) is not null) > 1)
            {
                r.AddError("Give at most one of --offset, --time and --from.");
            }

            if (r.GetResult(group) is not null && (r.GetResult(offset) is not null || r.GetResult(time) is not null))
            {
                r.AddError("--group reads from the group's committed offset: --offset and --time do not apply.");
            }
        });
        return cli.Run(command, async (c, ct) =>
        {
            var name = c.Get(stream);
            IEnumerable<int> partitions = c.Get(partition) is { } p
                ? [p]
                : Enumerable.Range(0, (int)(CliJson.Long((await c.Api.GetAsync(Path(name), ct).ConfigureAwait(false)).Json, "partitions") ?? 0));
            var table = new Table("partition", "offset", "timestamp", "key", "topic", "payload");
            foreach (var number in partitions)
            {
                var prefix = c.Get(group) is { } g ? $"{Path(name)}/groups/{Query.Segment(g)}" : Path(name);
                var path = Query.With($"{prefix}/partitions/{number.ToString(CultureInfo.InvariantCulture)}/records",
                    ("offset", c.Get(offset)?.ToString(CultureInfo.InvariantCulture)), ("time", c.Get(time)?.ToString("o", CultureInfo.InvariantCulture)),
                    ("from", c.Get(from)), ("max", c.Get(max)?.ToString(CultureInfo.InvariantCulture)),
                    ("wait", c.Get(wait) > TimeSpan.Zero ? Durations.ToSeconds(c.Get(wait)) : null));
                var response = await c.Api.GetAsync(path, ct, c.Get(wait)).ConfigureAwait(false);
                if (c.Json)
                {
                    c.WriteJson(response);
                    continue;
                }

                foreach (var r in CliJson.Items(CliJson.Get(response.Json, "records")))
                {
                    var payload = CliJson.Get(r, "payload").ValueKind is JsonValueKind.Undefined or JsonValueKind.Null
                        ? "base64:" + CliJson.Show(r, "payloadBase64")
                        : CliJson.Show(r, "payload");
                    table.Add(number.ToString(CultureInfo.InvariantCulture), CliJson.Show(r, "offset"), CliJson.Time(r, "timestamp"),
                        CliJson.Show(r, "key"), CliJson.Show(r, "topic"), payload);
                }
            }

            if (!c.Json)
            {
                if (table.Count == 0)
                {
                    c.Out.WriteLine("No records.");
                }
                else
                {
                    table.Write(c.Out);
                }
            }

            return ExitCodes.Ok;
        });
    }

    private static Func<CliContext, CancellationToken, Task<int>> GroupsAsync(Argument<string> stream) => async (c, ct) =>
    {
        var name = c.Get(stream);
        var response = await c.Api.GetAsync(Path(name) + "/groups", ct).ConfigureAwait(false);
        if (c.Json)
        {
            c.WriteJson(response);
            return ExitCodes.Ok;
        }

        var table = new Table("group", "lag");
        foreach (var group in CliJson.Items(response.Json).Select(g => g.GetString()!))
        {
            var detail = await c.Api.GetAsync($"{Path(name)}/groups/{Query.Segment(group)}", ct).ConfigureAwait(false);
            table.Add(group, CliJson.Items(CliJson.Get(detail.Json, "partitions")).Sum(p => CliJson.Long(p, "lag") ?? 0).ToString(CultureInfo.InvariantCulture));
        }

        if (table.Count == 0)
        {
            c.Out.WriteLine("No consumer groups.");
        }
        else
        {
            table.Write(c.Out);
        }

        return ExitCodes.Ok;
    };

    private static Func<CliContext, CancellationToken, Task<int>> LagAsync(Argument<string> stream, Argument<string> group) => async (c, ct) =>
        c.Print(await c.Api.GetAsync($"{Path(c.Get(stream))}/groups/{Query.Segment(c.Get(group))}", ct).ConfigureAwait(false), json =>
        {
            var table = new Table("partition", "committed", "end", "lag", "metadata");
            long total = 0;
            foreach (var p in CliJson.Items(CliJson.Get(json, "partitions")))
            {
                total += CliJson.Long(p, "lag") ?? 0;
                table.Add(CliJson.Show(p, "partition"), CliJson.Show(p, "committedOffset"), CliJson.Show(p, "endOffset"), CliJson.Show(p, "lag"), CliJson.Show(p, "metadata"));
            }

            table.Add("total", "", "", total.ToString(CultureInfo.InvariantCulture), "");
            table.Write(c.Out);
        });
}
