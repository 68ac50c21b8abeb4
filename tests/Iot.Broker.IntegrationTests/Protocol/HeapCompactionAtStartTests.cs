using Iot.TestUtilities;
using static Iot.TestUtilities.ProcessInspection;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// <c>Iot:Mqtt:CompactHeapAtStart</c> (on by default): a second after start the broker process runs two full
/// collections, so that what start-up keeps sits in generation 2 before traffic; its pause is on /metrics.
/// </summary>
public sealed class HeapCompactionAtStartTests
{
    [Fact]
    public async Task ByDefault_TwoFullCollectionsAfterStart_ThePauseIsReported()
    {
        using var dataDir = new TempDirectory("iot-gcstart");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        var metrics = await Eventually.WaitForAsync(
            () => http.GetStringAsync("/metrics"), m => Sample(m, "iot_heap_startup_compaction_seconds") > 0,
            TimeSpan.FromSeconds(15), "the compaction after start");
        Assert.True(Sample(metrics, "dotnet_gc_collections_total{generation=\"2\"}") >= 2);
        // The metric is set before the line is logged, and the log reaches the pipe later still: wait for the line.
        await broker.WaitForOutputAsync("Compacted the heap after start", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task TurnedOff_NoCompaction()
    {
        using var dataDir = new TempDirectory("iot-gcstart-off");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, "--Iot:Mqtt:CompactHeapAtStart=false");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        // A negative check: the compaction would run a second after start. A busy machine can only make it pass
        // wrongly (the compaction late), never fail it; ByDefault_... is its positive control.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Equal(0, Sample(metrics, "iot_heap_startup_compaction_seconds"));
        Assert.DoesNotContain("Compacted the heap after start", broker.Output, StringComparison.Ordinal);
    }
}
