using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.ClaimCheck;

/// <summary>A broker with claim check on: payloads over 64 KiB on <c>files/#</c> and in HTTP queue sends, in the local store.</summary>
public sealed class ClaimCheckBrokerFixture() : BrokerFixture(
[
    "--Iot:ClaimCheck:Enabled=true",
    $"--Iot:ClaimCheck:ThresholdBytes={Threshold}",
    "--Iot:ClaimCheck:Topics:0=files/#",
])
{
    public const int Threshold = 64 * 1024;
}

/// <summary>What the claim-check tests share: reading a reference and the counters.</summary>
internal static class ClaimCheckAssert
{
    /// <summary>The <c>claimCheck</c> object of a reference body.</summary>
    public static JsonElement Reference(byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("claimCheck").Clone();
    }

    /// <summary>GETs a reference's URL (a path on the broker, or absolute) with no API key and returns the bytes.</summary>
    public static async Task<byte[]> FetchAsync(Uri brokerHttp, JsonElement reference)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        return await http.GetByteArrayAsync(new Uri(brokerHttp, reference.GetProperty("url").GetString()));
    }

    /// <summary>The sum of a metric's samples at <c>/metrics</c> (0 when absent).</summary>
    public static async Task<double> MetricAsync(Uri brokerHttp, string name)
    {
        using var http = new HttpClient { BaseAddress = brokerHttp, Timeout = TimeSpan.FromSeconds(30) };
        var families = PrometheusText.Parse(await http.GetStringAsync(new Uri("metrics", UriKind.Relative)));
        return families.Values.SelectMany(f => f.Samples).Where(s => s.Name == name).Sum(s => s.Value);
    }

    public static async Task CreateQueueAsync(HttpClient http, string queue)
    {
        using var created = await http.PutAsJsonAsync(new Uri($"api/queues/{queue}", UriKind.Relative), new { });
        created.EnsureSuccessStatusCode();
    }
}
