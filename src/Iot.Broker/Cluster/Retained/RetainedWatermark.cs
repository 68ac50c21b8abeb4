namespace Iot.Broker.Cluster.Retained;

/// <summary>
/// How far this node's retained index is known to agree with the <c>IOT_RETAINED</c> stream: after
/// <see cref="Consistent"/> = <c>s</c>, the index holds, for every topic, the stream's value as of sequence <c>s</c>
/// (or a newer one). SUBSCRIBEs wait here (<see cref="WaitAsync"/>) until it reaches the stream's last sequence.
/// </summary>
/// <remarks>
/// <para>
/// The feed applies stream messages in stream order, but a message can be missing from what it receives: with one
/// message per subject, a newer value on the same topic deletes the older one, and a consumer that lags skips it (the
/// newer value comes later). So a delivered sequence alone proves nothing when sequences were skipped. Two things do:
/// a message whose sequence follows the consistent one directly (nothing was skipped, so the state moved from
/// <c>s - 1</c> to <c>s</c>), and a message delivered with nothing pending after it (every message still in the stream
/// was delivered, so the index is the stream's whole state at that sequence). Anything else leaves the mark where it is
/// until the feed catches up; a consumer that keeps up is at its tail, where every message has nothing pending.
/// </para>
/// <para>Thread-safe: one feed calls <see cref="Applied"/>, any number of SUBSCRIBEs wait.</para>
/// </remarks>
internal sealed class RetainedWatermark(TimeProvider time)
{
    private readonly TimeProvider _time = time;
    private readonly Lock _gate = new();
    private readonly List<Waiter> _waiters = [];
    private ulong _consistent;
    private ulong _last;

    /// <summary>The stream sequence the index is known to agree with (0 before anything was applied).</summary>
    public ulong Consistent => Interlocked.Read(ref _consistent);

    /// <summary>The highest stream sequence applied, consistent or not.</summary>
    public ulong LastApplied => Interlocked.Read(ref _last);

    /// <summary>
    /// Records that the message at stream sequence <paramref name="sequence"/> was applied to the index, with
    /// <paramref name="pending"/> more messages in the stream after it (the consumer's count when it was delivered).
    /// Releases the waiters it satisfies.
    /// </summary>
    public void Applied(ulong sequence, ulong pending)
    {
        List<Waiter>? released = null;
        lock (_gate)
        {
            if (sequence > _last)
            {
                Interlocked.Exchange(ref _last, sequence);
            }

            if (sequence <= _consistent || (pending != 0 && sequence != _consistent + 1))
            {
                return;
            }

            Interlocked.Exchange(ref _consistent, sequence);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Target <= sequence)
                {
                    (released ??= []).Add(_waiters[i]);
                    _waiters.RemoveAt(i);
                }
            }
        }

        // Completed outside the lock: continuations run asynchronously anyway, and the lock never waits on them.
        foreach (var waiter in released ?? [])
        {
            waiter.Complete();
        }
    }

    /// <summary>
    /// Completes when <see cref="Consistent"/> reaches <paramref name="target"/>; faults with a
    /// <see cref="TimeoutException"/> when <paramref name="timeout"/> (measured on the <see cref="TimeProvider"/>) passes
    /// first, and is canceled with <paramref name="cancellationToken"/>.
    /// </summary>
    public Task WaitAsync(ulong target, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (target <= Consistent)
        {
            return Task.CompletedTask;
        }

        var waiter = new Waiter(target);
        lock (_gate)
        {
            if (target <= _consistent)
            {
                return Task.CompletedTask;
            }

            _waiters.Add(waiter);
        }

        waiter.Arm(this, timeout, cancellationToken);
        return waiter.Task;
    }

    /// <summary>Waiters not yet released (for tests and diagnostics).</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _waiters.Count;
            }
        }
    }

    private void Remove(Waiter waiter)
    {
        lock (_gate)
        {
            _waiters.Remove(waiter);
        }
    }

    private sealed class Waiter(ulong target)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;

        public ulong Target { get; } = target;

        public Task Task => _done.Task;

        public void Arm(RetainedWatermark owner, TimeSpan timeout, CancellationToken cancellationToken)
        {
            _timer = owner._time.CreateTimer(
                static state =>
                {
                    var (w, o) = ((Waiter, RetainedWatermark))state!;
                    o.Remove(w);
                    w.Fail(new TimeoutException(
                        $"the retained index did not reach stream sequence {w.Target} in time (it is at {o.Consistent})"));
                },
                (this, owner), timeout, Timeout.InfiniteTimeSpan);
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.Register(
                    static state =>
                    {
                        var (w, o) = ((Waiter, RetainedWatermark))state!;
                        o.Remove(w);
                        w.Cancel();
                    },
                    (this, owner));
            }

            // Released (or timed out) before the timer was armed: nothing else will dispose it.
            if (_done.Task.IsCompleted)
            {
                Dispose();
            }
        }

        public void Complete()
        {
            _done.TrySetResult();
            Dispose();
        }

        private void Fail(Exception error)
        {
            _done.TrySetException(error);
            Dispose();
        }

        private void Cancel()
        {
            _done.TrySetCanceled();
            Dispose();
        }

        private void Dispose()
        {
            _timer?.Dispose();
            _cancellation.Dispose();
        }
    }
}
