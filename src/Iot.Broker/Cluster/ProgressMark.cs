namespace Iot.Broker.Cluster;

/// <summary>
/// A value that only grows (a change generation applied, a key-value revision seen) and the waits for it to reach a
/// mark. Its lock is a leaf: waiters are completed after it is released, and their continuations run asynchronously.
/// </summary>
internal sealed class ProgressMark
{
    private readonly Lock _gate = new();
    private readonly List<Waiter> _waiters = [];
    private ulong _value;

    /// <summary>The value reached so far.</summary>
    public ulong Value
    {
        get
        {
            lock (_gate)
            {
                return _value;
            }
        }
    }

    /// <summary>Raises the value to <paramref name="value"/> (a lower one is ignored) and releases the waits it reaches.</summary>
    public void Advance(ulong value)
    {
        List<Waiter>? reached = null;
        lock (_gate)
        {
            if (value <= _value)
            {
                return;
            }

            _value = value;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Mark <= value)
                {
                    (reached ??= []).Add(_waiters[i]);
                    _waiters.RemoveAt(i);
                }
            }
        }

        if (reached is not null)
        {
            foreach (var waiter in reached)
            {
                waiter.Done.TrySetResult();
            }
        }
    }

    /// <summary>Completes when the value reaches <paramref name="mark"/>; cancelled (and forgotten) with <paramref name="cancellationToken"/>.</summary>
    public Task WhenReachedAsync(ulong mark, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_gate)
        {
            if (_value >= mark)
            {
                return Task.CompletedTask;
            }

            waiter = new Waiter(mark, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _waiters.Add(waiter);
        }

        return WaitAsync(waiter, cancellationToken);
    }

    private async Task WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        try
        {
            await waiter.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }

            throw;
        }
    }

    private sealed record Waiter(ulong Mark, TaskCompletionSource Done);
}
