using System.Net;
using System.Net.Sockets;

namespace Iot.TestUtilities;

/// <summary>
/// Free loopback TCP ports for servers that cannot be told to pick their own (port 0). Another process can take a port
/// between picking and binding: whoever binds it must retry with new ports when the bind fails.
/// </summary>
public static class FreePorts
{
    /// <summary><paramref name="count"/> distinct free ports (held open together while they are picked).</summary>
    public static int[] Pick(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    /// <summary>One free port.</summary>
    public static int One() => Pick(1)[0];
}
