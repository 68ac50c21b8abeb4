namespace Iot.Routing.Internal;

/// <summary>An auto-reset signal for one waiting loop: a signal set while nobody waits is kept for the next wait.</summary>
internal sealed class AsyncSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource? _waiter;
    private bool _set;

    /// <summary>Wakes the waiter, or makes the next wait return at once.</summary>
    public void Set()
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            waiter = _waiter;
            _waiter = null;
            _set = waiter is null;
        }

        waiter?.TrySetResult();
    }

    /// <summary>Waits for a signal or until <paramref name="timeout"/> passed (infinite when negative); true when signalled.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_lock)
        {
            if (_set)
            {
                _set = false;
                return true;
            }

            waiter = _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        if (timeout == TimeSpan.Zero)
        {
            return false;
        }

        var delay = timeout < TimeSpan.Zero
            ? Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken)
            : Task.Delay(timeout, timeProvider, cancellationToken);
        var first = await Task.WhenAny(waiter.Task, delay).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == waiter.Task;
    }
}
