namespace Iot.LoadTool;

/// <summary>
/// Shared flow control counted in deliveries: senders wait while expected deliveries minus received deliveries
/// exceed the limit, so the broker's queues stay short and the figure is throughput, not buffering.
/// </summary>
internal sealed class DeliveryWindow(long limit)
{
    private readonly AsyncSignal _progress = new();
    private long _expected;
    private long _received;
    private long _lost;

    public long Received => Volatile.Read(ref _received);

    public long Expected => Volatile.Read(ref _expected);

    public long Lost => Volatile.Read(ref _lost);

    /// <summary>How many deliveries may still be started; 0 means wait on <see cref="WaitAsync"/>.</summary>
    public long Available => limit - (Expected - Received - Lost);

    public Task WaitAsync() => _progress.WaitAsync();

    public void AddExpected(long deliveries) => Interlocked.Add(ref _expected, deliveries);

    public void AddReceived(long deliveries)
    {
        Interlocked.Add(ref _received, deliveries);
        _progress.Pulse();
    }

    /// <summary>Writes off deliveries that will never arrive (a broker dropped them) so the senders do not stall forever.</summary>
    public void WriteOff(long deliveries)
    {
        Interlocked.Add(ref _lost, deliveries);
        _progress.Pulse();
    }

    public void Release() => _progress.Pulse();
}

/// <summary>A re-armable signal: every <see cref="Pulse"/> completes the task handed out before it.</summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed;

    public Task WaitAsync()
    {
        Volatile.Write(ref _armed, 1);
        return Volatile.Read(ref _current).Task;
    }

    public void Pulse()
    {
        // Only swap when someone asked to wait: the receive path pulses once per socket read.
        if (Interlocked.Exchange(ref _armed, 0) == 0)
        {
            return;
        }

        var previous = Interlocked.Exchange(ref _current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        previous.TrySetResult();
    }
}
