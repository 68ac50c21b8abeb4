using System.Diagnostics;
using System.Net;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>Issue 16, finding 2: the per-address connect limiter slows a burst instead of refusing it, and forgives a flood.</summary>
[Trait("Category", "Integration")]
public sealed class ConnectRateTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public async Task DefaultLimit_TenThousandClientsFromOneAddressHundredAtATime_AllGetConnAck()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var accepted = 0;
        var retried = 0;
        var firstFailures = new int[256];
        var watch = Stopwatch.StartNew();

        await Parallel.ForAsync(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 100 }, async (i, _) =>
        {
            // A client on a busy machine may fail on its own side now and then (an ephemeral port still in TIME_WAIT
            // from earlier floods on this address): it tries again, as a device does. The limiter's refusals are
            // counted by the broker and must stay 0, and the retries must stay rare (the old rule closed 7 800 of them).
            for (var attempt = 0; attempt < 3; attempt++)
            {
                var (code, _) = await LoopbackMqtt.ConnectAsync(IPAddress.Loopback, broker.MqttPort, "burst-" + i);
                if (code == LoopbackMqtt.Accepted)
                {
                    Interlocked.Increment(ref accepted);
                    return;
                }

                Interlocked.Increment(ref retried);
                Interlocked.Increment(ref firstFailures[code & 0xFF]);
            }
        });

        output.WriteLine($"{accepted} of 10 000 accepted in {watch.Elapsed.TotalSeconds:F1} s, {retried} attempt(s) again"
            + string.Concat(firstFailures.Select((n, code) => n == 0 ? "" : $"; code {code}: {n}")));
        Assert.Equal(10_000, accepted);
        Assert.True(retried <= 100, $"{retried} connections had to try again");
        var metrics = await BrokerMetricsText.GetAsync(broker);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"connect_rate_per_address\"} 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BurstFasterThanTheRate_IsSlowedDownNotRefused()
    {
        // The same shape at a rate that any machine outruns, so that the clients really exceed it (under the old rule,
        // every connection beyond the burst of 100 was closed before CONNACK).
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:ConnectRatePerAddress=50");
        var accepted = 0;
        var watch = Stopwatch.StartNew();

        await Parallel.ForAsync(0, 600, new ParallelOptions { MaxDegreeOfParallelism = 100 }, async (i, _) =>
        {
            var (code, _) = await LoopbackMqtt.ConnectAsync(IPAddress.Loopback, broker.MqttPort, "slowed-" + i);
            if (code == LoopbackMqtt.Accepted)
            {
                Interlocked.Increment(ref accepted);
            }
        });

        output.WriteLine($"{accepted} of 600 accepted in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(600, accepted);
        Assert.True(watch.Elapsed > TimeSpan.FromSeconds(9), $"500 beyond the burst at 50/s take 10 s, took {watch.Elapsed}");
        var metrics = await BrokerMetricsText.GetAsync(broker);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"connect_rate_per_address\"} 0", metrics, StringComparison.Ordinal);
        Assert.Matches("iot_mqtt_limit_hits_total\\{limit=\"connect_rate_delayed\"\\} [1-9]", metrics);
    }

    [Fact]
    public async Task AfterAFloodEnds_TheAddressConnectsAgainWithinTheMaxDelay()
    {
        // A low rate so that a short flood runs the bucket far into debt under the old rule (every refusal charged).
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:ConnectRatePerAddress=20", "--Iot:Mqtt:ConnectRateMaxDelaySeconds=5");
        // 2 000 connections, however long a busy machine takes for them (not 3 s, which gave too few on a loaded one):
        // beyond the 20/s burst and 5 s of delay (about 140) every one is refused.
        var flood = Stopwatch.StartNew();
        var attempts = 0;
        await Parallel.ForAsync(0, 32, async (_, _) =>
        {
            while (Volatile.Read(ref attempts) < 2_000 && flood.Elapsed < TimeSpan.FromSeconds(120))
            {
                await LoopbackMqtt.TouchAsync(IPAddress.Loopback, broker.MqttPort);
                Interlocked.Increment(ref attempts);
            }
        });

        // The accept loop may still be working through the backlog: wait for the count rather than read it once.
        var refused = await Eventually.WaitForAsync(
            async () => BrokerMetricsText.Value(await BrokerMetricsText.GetAsync(broker), "iot_mqtt_limit_hits_total{limit=\"connect_rate_per_address\"}"),
            r => r > 1000, TimeSpan.FromSeconds(30), $"the flood of {attempts} connections is refused");
        output.WriteLine($"flood: {attempts} connections in {flood.Elapsed.TotalSeconds:F1} s, {refused} refused");

        var recovery = Stopwatch.StartNew();
        int code;
        do
        {
            (code, _) = await LoopbackMqtt.ConnectAsync(IPAddress.Loopback, broker.MqttPort, "after-flood", timeout: TimeSpan.FromSeconds(10));
            if (code != LoopbackMqtt.Accepted)
            {
                await Task.Delay(200);
            }
        }
        while (code != LoopbackMqtt.Accepted && recovery.Elapsed < TimeSpan.FromSeconds(30));

        output.WriteLine($"connected again {recovery.Elapsed.TotalSeconds:F1} s after the flood ended");
        Assert.Equal(LoopbackMqtt.Accepted, code);
        Assert.True(recovery.Elapsed < TimeSpan.FromSeconds(10), $"took {recovery.Elapsed}");
    }
}

/// <summary>Reads <c>/metrics</c> of a test broker.</summary>
internal static class BrokerMetricsText
{
    public static async Task<string> GetAsync(BrokerFixture broker)
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        return await http.GetStringAsync("/metrics");
    }

    /// <summary>The value of the sample named exactly <paramref name="sample"/> (name and labels), or -1.</summary>
    public static double Value(string metrics, string sample)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith(sample + " ", StringComparison.Ordinal))
            {
                return double.Parse(line.AsSpan(sample.Length + 1), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }
}
