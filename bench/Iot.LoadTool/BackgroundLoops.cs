namespace Iot.LoadTool;

/// <summary>
/// The read and publish loops of one scenario: failures are counted (and the first few printed on stderr), and
/// exceptions after the stop token fired are the expected end of a loop, not errors.
/// </summary>
internal sealed class BackgroundLoops(CancellationToken stopping)
{
    private readonly List<Task> _loops = [];
    private int _errors;

    public int Errors => Volatile.Read(ref _errors);

    public void Watch(Task loop) => _loops.Add(ObserveAsync(loop));

    /// <summary>Runs a blocking loop on a dedicated background thread and watches it like an asynchronous one.</summary>
    public void WatchThread(string name, Action loop)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                loop();
                ended.TrySetResult();
            }
            catch (Exception ex)
            {
                ended.TrySetException(ex);
            }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        Watch(ended.Task);
    }

    public Task WhenAllAsync() => Task.WhenAll(_loops);

    /// <summary>Counts a failure that happened outside a watched loop (for example a refused CONNECT).</summary>
    public void Fail(Exception ex)
    {
        if (Interlocked.Increment(ref _errors) <= 5)
        {
            Console.Error.WriteLine($"connection error: {ex.Message}");
        }
    }

    private async Task ObserveAsync(Task loop)
    {
        try
        {
            await loop;
        }
        catch (Exception ex) when (stopping.IsCancellationRequested)
        {
            // Expected at shutdown: cancelled waits and sockets closed under pending reads.
            _ = ex;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidDataException)
        {
            Fail(ex);
        }
    }
}
