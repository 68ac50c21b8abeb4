using System.CommandLine;
using System.Globalization;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot audit</c>: the audit log of administrative changes (<c>GET /api/audit</c>).</summary>
internal sealed class AuditGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var since = new Option<string?>("--since") { Description = "Only entries of the last duration (30m, 2h, 7d) or since an ISO 8601 time." };
        var actor = new Option<string?>("--actor") { Description = "Only this identity's changes (anonymous: requests without credentials)." };
        var action = new Option<string?>("--action") { Description = "Only actions containing this text, e.g. /api/devices or DELETE." };
        var before = new Option<long?>("--before") { Description = "Only entries older than this sequence (the next page)." };
        var limit = CliOptions.Number("--limit", "How many entries at most (default 100)", 1, 1000);
        return Command("audit", "The audit log: who changed what, when, and with which outcome.",
            cli.Run(Command("list", "List audit entries, newest first.", since, actor, action, before, limit), async (c, ct) =>
            {
                var path = Query.With("/api/audit",
                    ("since", Since(c.Get(since), c.Time)), ("actor", c.Get(actor)), ("action", c.Get(action)),
                    ("before", c.Get(before)?.ToString(CultureInfo.InvariantCulture)), ("limit", c.Get(limit)?.ToString(CultureInfo.InvariantCulture)));
                return c.Print(await c.Api.GetAsync(path, ct).ConfigureAwait(false), json =>
                {
                    var table = new Table("seq", "time", "actor", "role", "action", "target", "status", "from", "node");
                    foreach (var entry in CliJson.Items(CliJson.Get(json, "value")))
                    {
                        table.Add(CliJson.Show(entry, "sequence"), CliJson.Time(entry, "time"), CliJson.Show(entry, "actor"), CliJson.Show(entry, "role"),
                            CliJson.Show(entry, "action"), CliJson.Show(entry, "target"), CliJson.Show(entry, "status"), CliJson.Show(entry, "remoteAddress"),
                            CliJson.Show(entry, "node"));
                    }

                    table.Write(c.Out);
                });
            }));
    }

    /// <summary>A duration back from now, or a time as given; null when not given.</summary>
    private static string? Since(string? value, TimeProvider time)
    {
        if (value is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) && value.Contains('-', StringComparison.Ordinal))
        {
            return at.ToString("O", CultureInfo.InvariantCulture);
        }

        return Durations.TryParse(value, out var back, out var error)
            ? (time.GetUtcNow() - back).ToString("O", CultureInfo.InvariantCulture)
            : throw new UsageException($"--since: {error} (a duration such as 2h, or an ISO 8601 time)");
    }
}
