using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// One MQTT 3.1.1 CONNECT/CONNACK exchange from a chosen loopback source address (Linux routes all of 127.0.0.0/8 to
/// the loopback interface), written by hand so that floods of them cost the test little.
/// </summary>
internal static class LoopbackMqtt
{
    /// <summary>CONNACK return code 0: accepted.</summary>
    public const int Accepted = 0;

    /// <summary>CONNACK return code 3: server unavailable (MQTT 5: 0x89 Server busy and the like).</summary>
    public const int ServerUnavailable = 3;

    /// <summary>CONNACK return code 4: bad username or password.</summary>
    public const int BadCredentials = 4;

    /// <summary>The connection was closed (or reset) before a CONNACK arrived.</summary>
    public const int Closed = -1;

    /// <summary>
    /// Connects from <paramref name="source"/>, sends CONNECT and returns the CONNACK return code, or <see cref="Closed"/>.
    /// With <paramref name="stayConnected"/> the open socket is returned for the caller to dispose; otherwise the
    /// exchange ends with DISCONNECT.
    /// </summary>
    public static async Task<(int Code, Socket? Socket)> ConnectAsync(IPAddress source, int port, string clientId, string? username = null,
        string? password = null, bool stayConnected = false, TimeSpan? timeout = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
            await socket.SendAsync(Connect(clientId, username, password), SocketFlags.None, cts.Token);
            var connack = new byte[4];
            var read = 0;
            while (read < 4)
            {
                var n = await socket.ReceiveAsync(connack.AsMemory(read), SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return (Closed, null);
                }

                read += n;
            }

            if (connack[0] != 0x20)
            {
                return (Closed, null);
            }

            if (stayConnected && connack[3] == Accepted)
            {
                var open = socket;
                socket = null;
                return (Accepted, open);
            }

            if (connack[3] == Accepted)
            {
                await socket.SendAsync(new byte[] { 0xE0, 0x00 }, SocketFlags.None, cts.Token);
            }

            return (connack[3], null);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            return (Closed, null);
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <summary>Opens a TCP connection from <paramref name="source"/> and closes it at once (a connection flood).</summary>
    public static async Task TouchAsync(IPAddress source, int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            // Refused or reset under the flood: that is what a flood meets.
        }
    }

    private static byte[] Connect(string clientId, string? username, string? password) =>
        ConnectPacket("MQTT", clientId, username, password, keepAliveSeconds: 60);

    /// <summary>An MQTT 3.1.1 CONNECT (clean session) with any protocol name: MQTTnet's encoder writes only valid ones.</summary>
    public static byte[] ConnectPacket(string protocolName, string clientId, string? username, string? password, byte keepAliveSeconds)
    {
        var body = new List<byte>();
        AddString(body, protocolName);
        body.Add(4);
        body.Add((byte)(0x02 | (username is null ? 0 : 0x80) | (password is null ? 0 : 0x40)));
        body.Add(0);
        body.Add(keepAliveSeconds);
        AddString(body, clientId);
        if (username is not null)
        {
            AddString(body, username);
        }

        if (password is not null)
        {
            AddString(body, password);
        }

        var packet = new List<byte> { 0x10 };
        var length = body.Count;
        do
        {
            var digit = (byte)(length % 128);
            length /= 128;
            packet.Add(length > 0 ? (byte)(digit | 0x80) : digit);
        }
        while (length > 0);

        packet.AddRange(body);
        return [.. packet];
    }

    private static void AddString(List<byte> buffer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        buffer.Add((byte)(bytes.Length >> 8));
        buffer.Add((byte)bytes.Length);
        buffer.AddRange(bytes);
    }
}
