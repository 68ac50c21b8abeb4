using MQTTnet;

namespace Iot.Simulator.Devices;

/// <summary>Why a device's connection ended.</summary>
internal enum ConnectionEnd
{
    /// <summary>Lost (the broker or the network closed it), or the run ended.</summary>
    Lost,

    /// <summary>A <c>reboot</c> command: disconnect, pause, connect again.</summary>
    Reboot,

    /// <summary>A flaky device dropped it on purpose, without DISCONNECT.</summary>
    FlakyDrop,
}

/// <summary>One connection of a device: its client and the token that ends the connection's loops.</summary>
internal sealed class ConnectionSession(IMqttClient client, CancellationTokenSource connection)
{
    private int _ended;

    /// <summary>The connected client.</summary>
    public IMqttClient Client => client;

    /// <summary>Cancelled when the connection ends, for whatever reason (the run's end included).</summary>
    public CancellationToken Token => connection.Token;

    /// <summary>Why it ended; <see cref="ConnectionEnd.Lost"/> until something else is decided.</summary>
    public ConnectionEnd EndReason { get; private set; }

    /// <summary>How long to wait before connecting again (reboot, flaky drop).</summary>
    public TimeSpan Pause { get; private set; }

    /// <summary>The client reports the connection gone.</summary>
    public void Lost() => End(ConnectionEnd.Lost, TimeSpan.Zero);

    /// <summary>Ends the connection on purpose; the first reason given wins.</summary>
    public void End(ConnectionEnd reason, TimeSpan pause)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        EndReason = reason;
        Pause = pause;
        try
        {
            // Not Cancel(): its callbacks would run the device loop on the caller's thread, which may be MQTTnet's
            // receive task (a reboot command), and the loop disposes the client.
            _ = connection.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The connection is already over.
        }
    }
}
