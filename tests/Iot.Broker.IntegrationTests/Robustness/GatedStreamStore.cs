using Iot.Streams.Log;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// The real stream store behind a gate: while it is closed, appends wait before they reach the segment log (a disk that
/// has stopped keeping up); <see cref="Open"/> lets every waiting append and all later ones through. Reads pass
/// straight through. How many appends are waiting at the gate is counted, so a test can see how far the broker let
/// its publishers run ahead of the store.
/// </summary>
internal sealed class GatedStreamStore(IStreamStore inner) : IStreamStore
{
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiting;
    private int _peakWaiting;

    /// <summary>Appends waiting at the closed gate now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The most appends that ever waited at the gate at once.</summary>
    public int PeakWaiting => Volatile.Read(ref _peakWaiting);

    /// <summary>The store no longer holds appends back.</summary>
    public void Open() => _opened.TrySetResult();

    public IReadOnlyCollection<StreamDefinition> Streams => inner.Streams;

    public ValueTask<StreamCreateResult> TryCreateAsync(StreamDefinition definition, CancellationToken cancellationToken = default) =>
        inner.TryCreateAsync(definition, cancellationToken);

    public StreamDefinition? Find(string name) => inner.Find(name);

    public IStreamLog GetPartition(string stream, int partition) => new GatedLog(inner.GetPartition(stream, partition), this);

    public IConsumerGroupStore GetGroups(string stream) => inner.GetGroups(stream);

    private async ValueTask<long> AppendWhenOpenAsync(IStreamLog log, AppendRecord record, CancellationToken cancellationToken)
    {
        var waiting = Interlocked.Increment(ref _waiting);
        int peak;
        while (waiting > (peak = Volatile.Read(ref _peakWaiting)) && Interlocked.CompareExchange(ref _peakWaiting, waiting, peak) != peak)
        {
        }

        try
        {
            await _opened.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        return await log.AppendAsync(record, cancellationToken);
    }

    private sealed class GatedLog(IStreamLog inner, GatedStreamStore gate) : IStreamLog
    {
        public long StartOffset => inner.StartOffset;

        public long NextOffset => inner.NextOffset;

        public ValueTask<long> AppendAsync(AppendRecord record, CancellationToken cancellationToken = default) =>
            gate._opened.Task.IsCompleted
                ? inner.AppendAsync(record, cancellationToken)
                // The caller's payload is only valid during the call (IRouteDestination): keep a copy while waiting.
                : gate.AppendWhenOpenAsync(inner, record with { Payload = record.Payload.ToArray() }, cancellationToken);

        public ValueTask<IReadOnlyList<StreamRecord>> ReadAsync(long offset, int maxRecords, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(offset, maxRecords, cancellationToken);

        public ValueTask<long> FindOffsetAsync(DateTimeOffset time, CancellationToken cancellationToken = default) =>
            inner.FindOffsetAsync(time, cancellationToken);

        public ValueTask WaitForRecordsAsync(long offset, CancellationToken cancellationToken = default) =>
            inner.WaitForRecordsAsync(offset, cancellationToken);

        public ValueTask<long> ApplyRetentionAsync(CancellationToken cancellationToken = default) =>
            inner.ApplyRetentionAsync(cancellationToken);

        // The partition belongs to the inner store, which disposes it.
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
