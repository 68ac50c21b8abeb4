using BenchmarkDotNet.Attributes;
using Iot.Streams.Log;

namespace Iot.Benchmarks;

/// <summary>
/// Appends to one partition's segment log, 1 000 in flight per invocation (as concurrent publishers would), awaited
/// together; figures are per record. <see cref="FsyncPolicy.Never"/> isolates the log's own CPU and allocations from
/// the disk; the durable policy is measured for throughput by bench/Iot.Streams.Benchmarks.
/// </summary>
[MemoryDiagnoser]
public class StreamAppendBenchmarks
{
    private const int Batch = 1000;
    private readonly ValueTask<long>[] _pending = new ValueTask<long>[Batch];
    private readonly byte[] _payload = new byte[64];
    private string _directory = "";
    private SegmentLog _log = null!;

    /// <summary>Opens the log.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
        _log = SegmentLog.Open(_directory, new SegmentLogOptions { Fsync = FsyncPolicy.Never });
    }

    /// <summary>Closes and deletes the log.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _log.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>1 000 appends of a 64-byte telemetry record, then wait for all.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task AppendTelemetry()
    {
        var record = new AppendRecord(DateTimeOffset.UnixEpoch, "d1", "devices/d1/telemetry", _payload);
        for (int i = 0; i < Batch; i++)
        {
#pragma warning disable CA2012 // Each ValueTask is awaited exactly once below; holding 1 000 in flight is the point.
            _pending[i] = _log.AppendAsync(record);
#pragma warning restore CA2012
        }

        for (int i = 0; i < Batch; i++)
        {
            await _pending[i].ConfigureAwait(false);
        }
    }
}
