using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Iot.Broker.IntegrationTests.Cluster.Nodes;

/// <summary>Reads a broker's <c>GET /api/cluster</c> and <c>/metrics</c> (the brokers run with anonymous access).</summary>
internal static partial class ClusterApi
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>The node list as <c>nodeId -> (alive, incarnation)</c>; null when the broker does not answer.</summary>
    public static async Task<Dictionary<string, (bool Alive, string Incarnation)>?> NodesAsync(Uri broker)
    {
        try
        {
            using var json = JsonDocument.Parse(await Http.GetStringAsync(new Uri(broker, "api/cluster")));
            return json.RootElement.GetProperty("nodes").EnumerateArray().ToDictionary(
                n => n.GetProperty("nodeId").GetString()!,
                n => (n.GetProperty("alive").GetBoolean(), n.GetProperty("incarnation").GetString()!));
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException)
        {
            return null;
        }
    }

    public static async Task<JsonDocument> ClusterAsync(Uri broker) => JsonDocument.Parse(await Http.GetStringAsync(new Uri(broker, "api/cluster")));

    /// <summary>The value of one line of <c>/metrics</c> (name with labels, exactly); null when absent.</summary>
    public static async Task<long?> MetricAsync(Uri broker, string line)
    {
        var text = await Http.GetStringAsync(new Uri(broker, "metrics"));
        foreach (var row in text.Split('\n'))
        {
            if (row.StartsWith(line + " ", StringComparison.Ordinal))
            {
                return long.Parse(row[(line.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    /// <summary>How many times <paramref name="output"/> holds the claim line of <paramref name="nodeId"/>'s <paramref name="incarnation"/> (event 1903).</summary>
    public static int Claims(string output, string nodeId, string incarnation) =>
        Regex.Count(output, $"Claimed dead cluster node {Regex.Escape(nodeId)} \\(incarnation {Regex.Escape(incarnation)}\\)");
}
