using System.Diagnostics.Metrics;

namespace Iot.Broker.Hosting.Telemetry;

internal sealed partial class IotInstruments
{
    /// <summary>
    /// The process and garbage collector gauges under the names <c>/metrics</c> always had. Not the runtime's own
    /// <c>System.Runtime</c> meter: its <c>dotnet.gc.collections</c> would export as <c>dotnet_gc_collections_total</c>
    /// with another label (<c>gc_heap_generation</c>) and clash with the series here (docs/architecture.md, "Metrics").
    /// </summary>
    private static void AddRuntime(Meter meter)
    {
        meter.CreateObservableUpDownCounter("process_resident_memory_bytes", () => Environment.WorkingSet, unit: "By", description: "Resident memory of the broker process.");
        if (OpenFiles.Open() is not null)
        {
            meter.CreateObservableUpDownCounter("process_open_fds", () => (long)(OpenFiles.Open() ?? 0),
                description: "File descriptors the broker has open (every MQTT connection is one).");
        }

        if (OpenFiles.Limits() is not null)
        {
            meter.CreateObservableUpDownCounter("process_max_fds", () => OpenFiles.Limits() is var (soft, _) ? soft : 0,
                description: "The open-files limit (soft): at most this many descriptors, connections included.");
        }

        meter.CreateObservableUpDownCounter("dotnet_gc_heap_bytes", () => GC.GetGCMemoryInfo().HeapSizeBytes, unit: "By",
            description: "Managed heap after the last collection, fragmentation included.");
        meter.CreateObservableUpDownCounter("dotnet_gc_fragmented_bytes", () => GC.GetGCMemoryInfo().FragmentedBytes, unit: "By",
            description: "Free space between live objects in the managed heap after the last collection.");
        meter.CreateObservableUpDownCounter("dotnet_gc_committed_bytes", () => GC.GetGCMemoryInfo().TotalCommittedBytes, unit: "By",
            description: "Memory the garbage collector has committed.");
        meter.CreateObservableCounter("dotnet_gc_collections_total", Collections,
            description: "Garbage collections since start, by generation (a gen 1 collection also counts in gen 0).");
        meter.CreateObservableCounter("dotnet_gc_pause_seconds_total", () => GC.GetTotalPauseDuration().TotalSeconds, unit: "s",
            description: "Time the garbage collector paused the broker's threads since start.");
        meter.CreateObservableCounter("dotnet_gc_allocated_bytes_total", () => GC.GetTotalAllocatedBytes(), unit: "By",
            description: "Bytes allocated on the managed heap since start (allocation rate: its rate per second).");
    }

    private static IEnumerable<Measurement<long>> Collections()
    {
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            yield return new Measurement<long>(GC.CollectionCount(generation),
                new KeyValuePair<string, object?>("generation", generation.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }
}
