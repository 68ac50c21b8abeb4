using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// One network connection speaking MQTT: a receive loop that frames and decodes packets and a writer loop that
/// encodes what the session and the acknowledgement queue hand it, flushing once per burst. Packet handling is
/// split by concern into partial files (Connect, Publish, Subscribe).
/// </summary>
internal sealed partial class MqttConnection
{
    private readonly ConnectionContext _transport;
    private readonly MqttBroker _broker;
    private readonly SessionContext _context;
    private readonly Channel<Outbound> _outbound = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions { SingleReader = true });
    // The writer holds only a packet's header and properties (payloads are written from their own memory), so it starts
    // small: an idle connection then costs 4 kB less. It grows for larger packets and shrinks back past 64 kB.
    private readonly MqttPacketFormatterAdapter _formatter = new(new MqttBufferWriter(128, 65536));
    private MqttSession? _session;
    private Task? _writerTask;
    private long _lastReceivedTicks = Environment.TickCount64;
    private int _keepAliveSeconds;
    private int _queuedQos0;
    private volatile bool _closing;
    private MqttDisconnectReasonCode? _closeReason;
    private string _clientId = string.Empty;
    private volatile string _stage = "new";

    public MqttConnection(ConnectionContext transport, MqttBroker broker)
    {
        _transport = transport;
        _broker = broker;
        _context = broker.Context;
    }

    public string ClientId => _clientId;

    public MqttProtocolVersion ProtocolVersion => _formatter.ProtocolVersion;

    private bool IsV5 => _formatter.ProtocolVersion == MqttProtocolVersion.V500;

    /// <summary>A one-line description of the connection's state, for diagnostics.</summary>
    public string Describe() =>
        $"{_transport.ConnectionId} client '{_clientId}' v{(int)_formatter.ProtocolVersion} session {(_session is null ? "none" : "bound")} " +
        $"closing {_closing} reason {_closeReason?.ToString() ?? "-"} writer {_writerTask?.Status.ToString() ?? "-"} {_writerTask?.Exception?.GetBaseException().GetType().Name} {_writerTask?.Exception?.GetBaseException().Message} acks {_ackTask?.Status.ToString() ?? "-"} " +
        $"stage {_stage} idle {(Environment.TickCount64 - Volatile.Read(ref _lastReceivedTicks)) / 1000} s";

    /// <summary>Set when a new connection with the same client id took this one over.</summary>
    public bool TakenOver { get; private set; }

    /// <summary>Clean Start of the connection that took this one over.</summary>
    public bool TakeoverCleanStart { get; private set; }

    public async Task RunAsync()
    {
        _context.Metrics.ConnectionOpened();
        _broker.Sessions.Register(this);
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException or IOException or ObjectDisposedException)
        {
            // The peer went away or the connection was closed by us; the finally block cleans up.
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionFailed(_broker.Logger, _transport.ConnectionId, ex);
        }
        finally
        {
            await ShutdownAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The session was taken over by a new connection: DISCONNECT 0x8E (MQTT 5) and close.</summary>
    public void MarkTakenOver(bool newCleanStart)
    {
        TakenOver = true;
        TakeoverCleanStart = newCleanStart;
    }

    public void CloseForTakeover() => Close(MqttDisconnectReasonCode.SessionTakenOver);

    /// <summary>Closes from outside the receive loop (keep-alive, takeover, shutdown), sending DISCONNECT to MQTT 5 clients.</summary>
    public void Close(MqttDisconnectReasonCode reason)
    {
        if (_closing)
        {
            return;
        }

        _closeReason = reason;
        _closing = true;
        _transport.Transport.Input.CancelPendingRead();
    }

    /// <summary>Called every second: closes a connection that sent nothing for 1.5 times its keep-alive.</summary>
    public void CheckKeepAlive(long nowTicks)
    {
        var keepAlive = _keepAliveSeconds;
        if (keepAlive > 0 && nowTicks - Volatile.Read(ref _lastReceivedTicks) > keepAlive * 1500L)
        {
            _context.Metrics.KeepAliveTimeout();
            Close(MqttDisconnectReasonCode.KeepAliveTimeout);
        }
    }

    /// <summary>Queues a PUBLISH (built and encoded by the writer loop). QoS 0 beyond the queue limit is dropped.</summary>
    public void SendPublish(Delivery delivery)
    {
        if (delivery.QualityOfService == 0)
        {
            if (Interlocked.Increment(ref _queuedQos0) > _context.Options.MaxQueuedMessages)
            {
                Interlocked.Decrement(ref _queuedQos0);
                _context.Metrics.MessageDropped(DropReason.QueueFull);
                return;
            }
        }

        _outbound.Writer.TryWrite(new Outbound(null, delivery));
    }

    public void SendPubRel(ushort packetId) =>
        Send(new MqttPubRelPacket { PacketIdentifier = packetId, ReasonCode = MqttPubRelReasonCode.Success });

    private void Send(MqttPacket packet) => _outbound.Writer.TryWrite(new Outbound(packet, null));

    private async Task ReceiveLoopAsync()
    {
        var input = _transport.Transport.Input;
        var maxPacketSize = _context.Options.MaxPacketSize;

        // The connect timeout's timer goes as soon as the session exists: an idle connection keeps no timer.
        var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(_context.Options.ConnectTimeoutSeconds));
        try
        {
            var connecting = true;
            while (true)
            {
                if (connecting && _session is not null)
                {
                    connecting = false;
                    connectTimeout.Dispose();
                }

                var token = connecting ? connectTimeout.Token : CancellationToken.None;
                ReadResult result;
                try
                {
                    _stage = "reading";
                    result = await input.ReadAsync(token).ConfigureAwait(false);
                    _stage = "handling";
                }
                catch (OperationCanceledException) when (connecting && connectTimeout.IsCancellationRequested)
                {
                    BrokerLog.ConnectionRejected(_broker.Logger, _transport.ConnectionId, "no CONNECT within the connect timeout");
                    return;
                }

                if (result.IsCanceled || _closing)
                {
                    return;
                }

                var buffer = result.Buffer;
                try
                {
                    while (true)
                    {
                        var status = PacketFraming.TryRead(ref buffer, maxPacketSize, out var header, out var body, out var total);
                        if (status == FramingStatus.NeedMoreData)
                        {
                            break;
                        }

                        if (status == FramingStatus.TooLarge)
                        {
                            _context.Metrics.PacketTooLargeOnce();
                            Violation(MqttDisconnectReasonCode.PacketTooLarge, $"packet of {total} bytes exceeds the maximum of {maxPacketSize}");
                            return;
                        }

                        if (status == FramingStatus.Malformed)
                        {
                            Violation(MqttDisconnectReasonCode.MalformedPacket, "invalid Remaining Length");
                            return;
                        }

                        Volatile.Write(ref _lastReceivedTicks, Environment.TickCount64);
                        _context.Metrics.AddBytesReceived(total);
                        if (!await HandlePacketAsync(new ReceivedMqttPacket(header, new ArraySegment<byte>(body), total)).ConfigureAwait(false))
                        {
                            return;
                        }

                        if (_throttle > TimeSpan.Zero)
                        {
                            // Over the publish rate: stop reading from this client until its bucket is back in credit.
                            var wait = _throttle;
                            _throttle = TimeSpan.Zero;
                            await Task.Delay(wait, _context.Time).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        finally
        {
            connectTimeout.Dispose();
        }
    }

    private async ValueTask<bool> HandlePacketAsync(ReceivedMqttPacket received)
    {
        MqttPacket packet;
        if (_session is null)
        {
            return await HandleFirstPacketAsync(received).ConfigureAwait(false);
        }

        try
        {
            packet = _formatter.Decode(received);
        }
        catch (Exception ex) when (ex is MqttProtocolViolationException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, ex.Message);
            return false;
        }

        if (MissingRequiredPart(packet) is { } problem)
        {
            Violation(MqttDisconnectReasonCode.ProtocolError, problem);
            return false;
        }

        switch (packet)
        {
            case MqttPublishPacket publish:
                return HandlePublish(publish);
            case MqttPubAckPacket ack:
                _session.OnPubAck(ack.PacketIdentifier);
                return true;
            case MqttPubRecPacket rec:
                if (!_session.OnPubRec(rec.PacketIdentifier, (int)rec.ReasonCode >= 0x80))
                {
                    SendPubRelNotFound(rec.PacketIdentifier);
                }

                return true;
            case MqttPubRelPacket rel:
                HandlePubRel(rel);
                return true;
            case MqttPubCompPacket comp:
                _session.OnPubComp(comp.PacketIdentifier);
                return true;
            case MqttSubscribePacket subscribe:
                return await HandleSubscribeAsync(subscribe).ConfigureAwait(false);
            case MqttUnsubscribePacket unsubscribe:
                await HandleUnsubscribeAsync(unsubscribe).ConfigureAwait(false);
                return true;
            case MqttPingReqPacket:
                Send(PingResponse);
                return true;
            case MqttDisconnectPacket disconnect:
                HandleDisconnect(disconnect);
                return false;
            case MqttConnectPacket:
                Violation(MqttDisconnectReasonCode.ProtocolError, "a second CONNECT");
                return false;
            default:
                Violation(MqttDisconnectReasonCode.ProtocolError, $"unexpected {packet.GetType().Name}");
                return false;
        }
    }

    /// <summary>What a decoded packet lacks that MQTT requires (MQTT 5 §2.2.1, §3.8.3, §3.10.3); null when complete.</summary>
    private static string? MissingRequiredPart(MqttPacket packet) => packet switch
    {
        MqttPublishPacket { QualityOfServiceLevel: > 0, PacketIdentifier: 0 } => "QoS 1/2 PUBLISH without a packet identifier",
        MqttPacketWithIdentifier { PacketIdentifier: 0 } and not MqttPublishPacket => $"{packet.GetType().Name} without a packet identifier",
        MqttSubscribePacket { TopicFilters.Count: 0 } => "SUBSCRIBE without a topic filter",
        MqttUnsubscribePacket { TopicFilters.Count: 0 } => "UNSUBSCRIBE without a topic filter",
        _ => null,
    };

    /// <summary>Ends the connection for a protocol violation: DISCONNECT with the reason (MQTT 5) and close.</summary>
    private void Violation(MqttDisconnectReasonCode reason, string detail)
    {
        _context.Metrics.ProtocolError();
        var who = _clientId.Length > 0 ? _clientId : _transport.ConnectionId;
        BrokerLog.ProtocolViolation(_broker.Logger, who, reason, detail);
        _closeReason = reason;
    }

    private async Task ShutdownAsync()
    {
        _stage = "shutdown";
        _closing = true;
        try
        {
            await DrainAsync().ConfigureAwait(false);
            if (_session is { } session)
            {
                var will = _willOnClose ? _will : null;
                _broker.Sessions.Disconnected(session, this, will, _willDelay);
                BrokerLog.ClientDisconnected(_broker.Logger, _clientId, !_willOnClose, _closeReason);
            }
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionFailed(_broker.Logger, _transport.ConnectionId, ex);
        }
        finally
        {
            // The bookkeeping happens whatever went wrong above, or connections would leak.
            if (_admitted)
            {
                _broker.Release(_principal?.Username);
            }

            _broker.Sessions.Unregister(this);
            _context.Metrics.ConnectionClosed();
        }
    }

    /// <summary>Lets pending acknowledgements and the DISCONNECT go out, bounded in time, then stops the writer.</summary>
    private async Task DrainAsync()
    {
        _acks?.Writer.TryComplete();
        if (_ackTask is not null)
        {
            try
            {
                // Acknowledgements whose writes are committing still go out before DISCONNECT.
                await _ackTask.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The store is stuck; the client will resend what it did not see acknowledged.
            }
        }

        if (_writerTask is null)
        {
            return;
        }

        if (IsV5 && _closeReason is { } reason)
        {
            Send(new MqttDisconnectPacket { ReasonCode = reason });
        }

        _outbound.Writer.TryComplete();
        try
        {
            // A peer that stopped reading must not hold the connection open forever.
            await _writerTask.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _transport.Abort();
        }
    }

    private async Task WriterLoopAsync()
    {
        var output = _transport.Transport.Output;
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    if (item.Delivery is { } delivery)
                    {
                        WritePublish(output, delivery);
                    }
                    else
                    {
                        Write(output, item.Packet!);
                    }
                }

                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }

                OnOutboundFlushed();
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer is gone; the receive loop notices and cleans up.
        }
        catch (Exception ex)
        {
            // A packet that cannot be encoded is a broker defect: log it and end this connection, never the broker.
            BrokerLog.ConnectionFailed(_broker.Logger, _transport.ConnectionId, ex);
        }
        finally
        {
            // Wake the receive loop if the writer stopped first (peer gone).
            _closing = true;
            _transport.Transport.Input.CancelPendingRead();
        }
    }

    private int Write(PipeWriter output, MqttPacket packet)
    {
        var buffer = _formatter.Encode(packet);
        var length = buffer.Length;
        output.Write(buffer.Packet);
        foreach (var segment in buffer.Payload)
        {
            output.Write(segment.Span);
        }

        _formatter.Cleanup();
        _context.Metrics.AddBytesSent(length);
        return length;
    }

    private static readonly MqttPingRespPacket PingResponse = new();

    private readonly record struct Outbound(MqttPacket? Packet, Delivery? Delivery);
}
