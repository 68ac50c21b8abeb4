namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// How every transport (epoll, socket, Kestrel for TLS and WebSocket) hands what it received to its
/// <see cref="MqttConnection"/>: each whole packet in turn, within one send batch (<see cref="SendBatch"/>).
/// </summary>
internal static class FrameHandling
{
    /// <summary>
    /// Handles every whole packet <paramref name="source"/> holds; false when the connection ends. One send batch
    /// covers them (closed before any await that does not complete at once): the acknowledgements of a burst of
    /// publishes leave in one send, and a subscriber's writer started by them runs once, on this thread, when the
    /// burst is handled.
    /// </summary>
    public static async ValueTask<bool> HandleAsync<TSource>(TSource source, MqttConnection connection, int maxPacketSize)
        where TSource : class, IFrameSource
    {
        SendBatch.Enter();
        var open = true;
        try
        {
            while (true)
            {
                var status = source.NextFrame(connection, maxPacketSize, out var header, out var body, out var total);
                if (status == FramingStatus.NeedMoreData)
                {
                    return true;
                }

                if (status == FramingStatus.Handled)
                {
                    continue;
                }

                var handled = connection.OnFrameAsync(status, header, body, total);
                // A handling that waits closes the batch first (it belongs to this thread) and opens a new one
                // after; one that completed at once is awaited without yielding, so the batch stays open.
                var waits = !handled.IsCompleted;
                if (waits)
                {
                    open = false;
                    SendBatch.Exit();
                }

                var keepGoing = await handled.ConfigureAwait(false);
                if (waits)
                {
                    SendBatch.Enter();
                    open = true;
                }

                if (!keepGoing)
                {
                    return false;
                }
            }
        }
        finally
        {
            if (open)
            {
                SendBatch.Exit();
            }
        }
    }
}
