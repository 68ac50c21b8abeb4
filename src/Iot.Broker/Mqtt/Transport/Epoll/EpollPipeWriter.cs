using System.IO.Pipelines;
using System.Runtime.InteropServices;
using static Iot.Broker.Mqtt.Transport.Epoll.LinuxSockets;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// The epoll transport's output: packets are encoded into one pooled buffer and <see cref="FlushAsync"/> sends it
/// with non-blocking <c>send</c> calls on the caller's thread. Only when the peer's window is full does it wait, for
/// the loop's next writable edge; a counter of those edges, read before each attempt, closes the gap between a
/// failed send and the wait. The buffer goes back to the pool after every flush, so an idle connection holds none.
/// </summary>
internal sealed class EpollPipeWriter(SocketFd fd) : PooledPipeWriter
{
    private volatile bool _failed;
    private int _writableEdges;
    private TaskCompletionSource? _waiter;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (Written == 0 && !_failed)
        {
            return default;
        }

        var sent = 0;
        while (!_failed && sent < Written)
        {
            var edges = Volatile.Read(ref _writableEdges);
            var count = Send(sent, out var error);
            if (count >= 0)
            {
                sent += count;
            }
            else if (error == EAGAIN)
            {
                return SendRestAsync(sent, edges);
            }
            else if (error != EINTR)
            {
                // Reset, broken pipe, shut by Abort: the peer is gone; the connection ends.
                _failed = true;
            }
        }

        Release();
        return _failed ? new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true)) : default;
    }

    /// <summary>The loop saw the socket writable (an edge): a waiting flush goes on.</summary>
    public void OnWritable()
    {
        // Edge-triggered epoll reports "writable" with nearly every event; only a waiting flush needs waking. The
        // increment is a full fence, so either the flush sees the new count or this sees its waiter.
        Interlocked.Increment(ref _writableEdges);
        if (Volatile.Read(ref _waiter) is not null)
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }
    }

    /// <summary>Fails the current and every later flush (the connection is dropped or has ended).</summary>
    public void Abort()
    {
        _failed = true;
        Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
    }

    private async ValueTask<FlushResult> SendRestAsync(int sent, int edges)
    {
        try
        {
            while (!_failed && sent < Written)
            {
                await WaitWritableAsync(edges).ConfigureAwait(false);
                while (!_failed && sent < Written)
                {
                    edges = Volatile.Read(ref _writableEdges);
                    var count = Send(sent, out var error);
                    if (count >= 0)
                    {
                        sent += count;
                    }
                    else if (error == EAGAIN)
                    {
                        break;
                    }
                    else if (error != EINTR)
                    {
                        _failed = true;
                    }
                }
            }

            return _failed ? new FlushResult(isCanceled: false, isCompleted: true) : default;
        }
        finally
        {
            Release();
        }
    }

    private Task WaitWritableAsync(int edgesBefore)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _waiter, waiter);
        if (Volatile.Read(ref _writableEdges) != edgesBefore || _failed)
        {
            // An edge (or an abort) came after the failed send: no need to wait for another.
            Interlocked.CompareExchange(ref _waiter, null, waiter);
            return Task.CompletedTask;
        }

        return waiter.Task;
    }

    private unsafe int Send(int offset, out int error)
    {
        nint count;
        try
        {
            var pending = Pending(offset).Span;
            fixed (byte* data = pending)
            {
                count = send(fd, data, pending.Length, MSG_NOSIGNAL);
            }
        }
        catch (ObjectDisposedException)
        {
            error = EBADF;
            return -1;
        }

        error = count < 0 ? Marshal.GetLastPInvokeError() : 0;
        return (int)count;
    }
}
