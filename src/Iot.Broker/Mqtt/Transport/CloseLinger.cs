namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// How a transport closes the way HTTP servers do: after the connection's last packet (a DISCONNECT with its reason)
/// was flushed and the send side shut, what the client still sends is read and discarded until it closes, for at most
/// <see cref="MqttOptions.CloseLingerMilliseconds"/>; only then is the socket closed. Closing with unread input would
/// reset the connection, and a client still writing would never read the reason.
/// </summary>
internal static class CloseLinger
{
    /// <summary>
    /// Runs <paramref name="drain"/> (read and discard until the peer closes) within the linger time; a peer still
    /// sending at its end is counted (<c>limit="close_linger"</c>). Errors of a peer that reset are ignored.
    /// </summary>
    public static async Task RunAsync(MqttConnection connection, Func<CancellationToken, Task> drain)
    {
        var context = connection.Context;
        var milliseconds = context.Options.CloseLingerMilliseconds;
        if (milliseconds == 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(milliseconds), context.Time);
        try
        {
            await drain(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            context.Metrics.LimitHit(LimitKind.CloseLinger);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException
            or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // Reset or aborted: nothing is left to read.
        }
    }
}
