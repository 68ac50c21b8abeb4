namespace Iot.Broker.Security;

/// <summary>
/// Runs password verifications (milliseconds of CPU each) on thread-pool threads, at most a fixed number at once and
/// with a bounded number waiting: a flood of CONNECTs with passwords can take no more than that many cores, and what
/// does not fit in the queue is refused at once instead of piling up.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
    "The semaphore holds no kernel handle (AvailableWaitHandle is never used), and a CONNECT in flight at shutdown must not meet an ObjectDisposedException.")]
internal sealed class PasswordHashPool
{
    private readonly SemaphoreSlim _slots;
    private readonly int _concurrency;
    private readonly int _capacity;
    private int _admitted;
    private long _completed;

    /// <summary>Creates a pool of <paramref name="concurrency"/> verifications at once and <paramref name="queue"/> waiting.</summary>
    public PasswordHashPool(int concurrency, int queue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(queue);
        _concurrency = concurrency;
        _capacity = concurrency + queue;
        _slots = new SemaphoreSlim(concurrency, concurrency);
    }

    /// <summary>Verifications running now.</summary>
    public int Running => _concurrency - _slots.CurrentCount;

    /// <summary>Verifications waiting for a slot now.</summary>
    public int Queued => Math.Max(0, Volatile.Read(ref _admitted) - Running);

    /// <summary>Verifications run since start.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>
    /// Runs <paramref name="verify"/> on <paramref name="state"/> off the caller's thread when the pool has room;
    /// null (nothing run) when the queue is full.
    /// </summary>
    public async ValueTask<bool?> TryRunAsync<TState>(Func<TState, bool> verify, TState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(verify);
        if (Interlocked.Increment(ref _admitted) > _capacity)
        {
            Interlocked.Decrement(ref _admitted);
            return null;
        }

        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // Off the thread that read the CONNECT (with inline socket completions, a socket engine thread that
                // serves many connections).
                var result = await Task.Run(() => verify(state), cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _completed);
                return result;
            }
            finally
            {
                _slots.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
        }
    }
}
