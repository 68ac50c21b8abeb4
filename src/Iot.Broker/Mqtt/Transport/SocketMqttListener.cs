using System.Net;
using System.Net.Sockets;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt.Transport.Epoll;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// The plain MQTT listener on a lean transport: <c>Iot:Mqtt:Transport</c> = <c>epoll</c> (the default on Linux: the
/// broker's own accept thread and epoll loops, <see cref="EpollEngine"/>) or <c>socket</c> (.NET sockets, any OS:
/// an accept loop handing each socket to a <see cref="SocketMqttTransport"/>). TLS and WebSocket stay on Kestrel.
/// Stopping closes the listening socket, then every connection (DISCONNECT 0x8B to MQTT 5 clients) and waits for
/// them to end.
/// </summary>
internal sealed partial class SocketMqttListener(
    ConnectionServices broker,
    IOptions<MqttOptions> options,
    ListenerRegistry registry,
    ILogger<SocketMqttListener> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket? _listen;
    private Task? _acceptLoop;
    private EpollEngine? _epoll;
    private long _nextConnectionId;
    private int _live;
    private volatile bool _stopped;

    /// <summary>Largest packet accepted (<c>Iot:Mqtt:MaxPacketSize</c>).</summary>
    public int MaxPacketSize { get; } = options.Value.MaxPacketSize;

    public ILogger Logger => broker.Logger;

    /// <summary>Binds and starts accepting (nothing when the transport is Kestrel or the listener is disabled).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var transport = settings.EffectiveTransport;
        if (settings.Port < 0 || transport == MqttOptions.KestrelTransport)
        {
            return Task.CompletedTask;
        }

        if (transport == MqttOptions.EpollTransport && !LinuxSockets.IsSupported)
        {
            throw new InvalidOperationException(
                $"Iot:Mqtt:Transport=epoll needs Linux on x86-64 or ARM64 (this is {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}); use 'socket'.");
        }

        var address = settings.BindAddress is "*" or "" ? IPAddress.IPv6Any : IPAddress.Parse(settings.BindAddress);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address, settings.Port));
            socket.Listen(settings.ListenBacklog);
        }
        catch (SocketException ex)
        {
            socket.Dispose();

            // As Kestrel says it for its listeners: the start-up failure names the port and the setting.
            throw new IOException($"Failed to bind the MQTT listener (Iot:Mqtt:Port) to {new IPEndPoint(address, settings.Port)}: {ex.Message}.", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _listen = socket;
        registry.MqttSocketPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        if (transport == MqttOptions.EpollTransport)
        {
            _epoll = new EpollEngine(this, broker, socket, settings.EffectiveEpollThreads, settings.EpollNice, logger);
            _epoll.Start();
        }
        else
        {
            _acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listen is null)
        {
            return;
        }

        _stopped = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _epoll?.StopAccepting();
        _listen.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        foreach (var connection in broker.Sessions.Connections)
        {
            connection.Close(MQTTnet.Protocol.MqttDisconnectReasonCode.ServerShuttingDown);
        }

        if (Volatile.Read(ref _live) > 0)
        {
            try
            {
                await _allEnded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The host's shutdown timeout ran out: what is left is dropped with the process.
                return;
            }
        }

        _epoll?.StopLoops();
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _listen?.Dispose();
    }

    /// <summary>A short number for the next connection's id (logs).</summary>
    internal long NextConnectionId() => Interlocked.Increment(ref _nextConnectionId);

    /// <summary>A connection was accepted (the stop waits for it to end).</summary>
    internal void Started() => Interlocked.Increment(ref _live);

    /// <summary>A connection has ended.</summary>
    internal void Ended()
    {
        if (Interlocked.Decrement(ref _live) == 0 && _stopped)
        {
            _allEnded.TrySetResult();
        }
    }

    private async Task AcceptLoopAsync()
    {
        var listen = _listen!;
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listen.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of file descriptors or a connection reset before it was accepted: keep accepting.
                LogAcceptFailed(logger, ex.SocketErrorCode, ex);
                if (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    broker.Context.Metrics.LimitHit(LimitKind.OpenFiles);
                    await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None).ConfigureAwait(false);
                }

                continue;
            }

            Accept(socket);
        }
    }

    private void Accept(Socket socket)
    {
        TimeSpan delay;
        try
        {
            socket.NoDelay = true;
            // Sends and receives are tried without waiting first; the transport awaits the socket only when it must.
            socket.Blocking = false;
            if (!broker.Admission.TryAcceptFrom(socket.RemoteEndPoint, out delay))
            {
                socket.Dispose();
                return;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset before we got to it.
            socket.Dispose();
            return;
        }

        Started();
        var transport = new SocketMqttTransport(socket, this);
        var connection = new MqttConnection(transport, broker);
        connection.AdmitAfter(delay);
        transport.Start(connection);
    }

    [LoggerMessage(EventId = 1040, Level = LogLevel.Warning, Message = "MQTT accept failed ({Error})")]
    private static partial void LogAcceptFailed(ILogger logger, SocketError error, Exception exception);
}
