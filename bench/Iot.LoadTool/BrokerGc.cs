using System.Globalization;

namespace Iot.LoadTool;

/// <summary>
/// The Iot broker's garbage-collector counters from its <c>/metrics</c> (<c>--metrics-url</c>): collections, time paused
/// and bytes allocated, so a run can report collections and allocation per message next to its latencies.
/// </summary>
internal readonly record struct BrokerGc(long Collections, double PauseSeconds, long AllocatedBytes)
{
    public static async Task<BrokerGc?> ReadAsync(HttpClient? http, Uri? url, CancellationToken ct)
    {
        if (http is null || url is null)
        {
            return null;
        }

        var text = await http.GetStringAsync(url, ct);
        return new BrokerGc(
            (long)(Value(text, "dotnet_gc_collections_total{generation=\"0\"}") ?? 0),
            Value(text, "dotnet_gc_pause_seconds_total") ?? 0,
            (long)(Value(text, "dotnet_gc_allocated_bytes_total") ?? 0));
    }

    private static double? Value(string metrics, string name)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.Length > name.Length && line.StartsWith(name, StringComparison.Ordinal) && line[name.Length] == ' ')
            {
                return double.Parse(line.AsSpan(name.Length + 1), CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
