using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Iot.Broker.Mqtt.Transport;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// One network connection speaking MQTT. A transport feeds it framed packets (<see cref="OnFrameAsync"/>: from
/// Kestrel's pipe in <see cref="RunAsync"/>, or from the lean socket transport) and it answers through a send queue
/// whose writer runs only while there is something to send, flushing once per burst: an idle connection holds no
/// writer task, no queue array and no timer. Packet handling is split by concern into partial files (Connect,
/// Publish, Subscribe).
/// </summary>
internal sealed partial class MqttConnection : IThreadPoolWorkItem, IDeliveryTarget
{
    private readonly MqttTransport _transport;
    private readonly MqttBroker _broker;
    private readonly SessionContext _context;
    // The send queue, created by the first packet to send, and the writer's state, guarded by _sendGate.
    private readonly Lock _sendGate = new();
    private Queue<Outbound>? _sendQueue;
    private bool _writerEnabled;
    private bool _writerRunning;
    private bool _writerStopped;
    private TaskCompletionSource? _writerIdle;
    // Set by CONNECT; the formatters themselves are per thread (PacketFormatters).
    private MqttProtocolVersion _protocolVersion;
    private MqttSession? _session;
    private readonly long _openedTicks = Environment.TickCount64;
    private long _lastReceivedTicks;
    private int _keepAliveSeconds;
    private int _queuedQos0;
    private volatile bool _closing;
    private MqttDisconnectReasonCode? _closeReason;
    private string _clientId = string.Empty;

    public MqttConnection(MqttTransport transport, MqttBroker broker)
    {
        _transport = transport;
        _broker = broker;
        _context = broker.Context;
        _lastReceivedTicks = _openedTicks;
    }

    public string ClientId => _clientId;

    public MqttProtocolVersion ProtocolVersion => _protocolVersion;

    private bool IsV5 => _protocolVersion == MqttProtocolVersion.V500;

    /// <summary>Set when a new connection with the same client id took this one over.</summary>
    public bool TakenOver { get; private set; }

    /// <summary>Clean Start of the connection that took this one over.</summary>
    public bool TakeoverCleanStart { get; private set; }

    /// <summary>Closing: the receive side stops at the next packet boundary or wait.</summary>
    public bool IsClosing => _closing;

    /// <summary>Runs the connection over a Kestrel pipe until either side ends it.</summary>
    public async Task RunAsync(PipeReader input)
    {
        Open();
        try
        {
            await ReceiveLoopAsync(input).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or Microsoft.AspNetCore.Connections.ConnectionResetException or IOException or ObjectDisposedException)
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

    /// <summary>Counts and registers a new connection; the transport calls it before the first frame.</summary>
    public void Open()
    {
        _context.Metrics.ConnectionOpened();
        _broker.Sessions.Register(this);
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
        _transport.CancelReceive();
    }

    /// <summary>
    /// Called every second: closes a connection that sent no CONNECT within the connect timeout, or nothing for 1.5
    /// times its keep-alive (so no connection needs a timer of its own).
    /// </summary>
    public void CheckKeepAlive(long nowTicks)
    {
        if (_session is null)
        {
            if (!_closing && nowTicks - _openedTicks > _context.Options.ConnectTimeoutSeconds * 1000L && Volatile.Read(ref _lastReceivedTicks) == _openedTicks)
            {
                _broker.Refusals.Add(ConnectionRefusals.ConnectTimeout, _transport.ConnectionId, "no CONNECT within the connect timeout");
                _closing = true;
                _transport.CancelReceive();
            }

            return;
        }

        var keepAlive = _keepAliveSeconds;
        if (keepAlive > 0 && nowTicks - Volatile.Read(ref _lastReceivedTicks) > keepAlive * 1500L)
        {
            _context.Metrics.KeepAliveTimeout();
            Close(MqttDisconnectReasonCode.KeepAliveTimeout);
            return;
        }

        var trimAfter = _context.Options.IdleTrimSeconds;
        if (trimAfter > 0 && nowTicks - Volatile.Read(ref _lastReceivedTicks) >= trimAfter * 1000L)
        {
            TrimIdle();
        }
    }

    /// <summary>
    /// Drops the empty send queue, the remembered topic and the session's empty in-flight map of a connection that
    /// has received nothing for <see cref="MqttOptions.IdleTrimSeconds"/>: an idle connection keeps only what it
    /// needs to wake up.
    /// </summary>
    private void TrimIdle()
    {
        // Read without the lock first: a connection already trimmed (most idle ones, every tick) takes no lock.
        if (Volatile.Read(ref _sendQueue) is not null)
        {
            lock (_sendGate)
            {
                if (!_writerRunning && _sendQueue is { Count: 0 })
                {
                    _sendQueue = null;
                }
            }
        }

        // The receive side may be reading it: it only ever compares it with the bytes at hand, so losing it is harmless.
        _lastTopic = null;
        _session?.TrimIdle();
    }

    /// <summary>Queues a PUBLISH (built and encoded by the writer). QoS 0 beyond the queue limit is dropped.</summary>
    public void SendPublish(Delivery delivery)
    {
        if (delivery.QualityOfService > 0 || TakeQos0Slot())
        {
            Enqueue(new Outbound(delivery));
        }
    }

    /// <summary>
    /// Queues a QoS 0 PUBLISH that needs nothing of its own (no subscription identifiers, nothing to track): the
    /// shared message itself, without a <see cref="Delivery"/>. Beyond the queue limit it is dropped.
    /// </summary>
    public void SendPublishQos0(BrokerMessage message, bool retain)
    {
        if (TakeQos0Slot())
        {
            Enqueue(new Outbound(message, retain ? 1 : 0));
        }
    }

    private bool TakeQos0Slot()
    {
        if (Interlocked.Increment(ref _queuedQos0) <= _context.Options.MaxQueuedMessages)
        {
            return true;
        }

        Interlocked.Decrement(ref _queuedQos0);
        _context.Metrics.MessageDropped(DropReason.QueueFull);
        return false;
    }

    public void SendPubRel(ushort packetId) => SendAck(PacketHeaders.PubRel, packetId);

    private void Send(MqttPacket packet) => Enqueue(new Outbound(packet));

    /// <summary>
    /// Queues a successful PUBACK, PUBREC, PUBREL or PUBCOMP as its four bytes, without a packet object: MQTT 3.1.1 has
    /// no more, and MQTT 5 lets the reason code and properties be left out when the reason is success (§3.4.2.1).
    /// </summary>
    private void SendAck(byte fixedHeader, ushort packetId) => Enqueue(new Outbound(null, (fixedHeader << 16) | packetId));

    private void Enqueue(Outbound item)
    {
        bool start;
        lock (_sendGate)
        {
            if (_writerStopped)
            {
                return;
            }

            (_sendQueue ??= new Queue<Outbound>(4)).Enqueue(item);
            start = _writerEnabled && !_writerRunning;
            _writerRunning |= start;
        }

        if (start)
        {
            ScheduleWriter();
        }
    }

    /// <summary>Starts the idle writer: inline at the end of the current batch when one is open, else on the thread pool.</summary>
    private void ScheduleWriter()
    {
        if (!SendBatch.TryDefer(this, _context.Options.InlineWritersPerBatch))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Runs the writer on this thread until it has sent everything or must wait for the socket.</summary>
    internal void RunWriter() => _ = WriterLoopAsync(inline: true);

    /// <summary>Lets the writer send what is queued (from CONNACK on; nothing is sent before).</summary>
    private void StartWriter()
    {
        bool start;
        lock (_sendGate)
        {
            _writerEnabled = true;
            start = !_writerRunning && !_writerStopped && _sendQueue is { Count: > 0 };
            _writerRunning |= start;
        }

        if (start)
        {
            ScheduleWriter();
        }
    }

    /// <summary>The thread pool runs the writer (queued by <see cref="Enqueue"/> when it was idle).</summary>
    void IThreadPoolWorkItem.Execute() => _ = WriterLoopAsync(inline: false);

    private bool TryDequeue(out Outbound item)
    {
        lock (_sendGate)
        {
            if (_sendQueue is { Count: > 0 } queue)
            {
                item = queue.Dequeue();
                return true;
            }
        }

        item = default;
        return false;
    }

    private async Task ReceiveLoopAsync(PipeReader input)
    {
        var maxPacketSize = _context.Options.MaxPacketSize;
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || _closing)
            {
                return;
            }

            var buffer = result.Buffer;
            // One send batch per read (see SendBatch), closed before any await that does not complete at once.
            SendBatch.Enter();
            var open = true;
            try
            {
                while (true)
                {
                    var status = NextFrame(ref buffer, maxPacketSize, out var header, out var body, out var total);
                    if (status == FramingStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status == FramingStatus.Handled)
                    {
                        continue;
                    }

                    var handled = OnFrameAsync(status, header, body, total);
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
                        return;
                    }
                }
            }
            finally
            {
                if (open)
                {
                    SendBatch.Exit();
                }

                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Handles one framed packet (or a framing error) from the transport. False: the connection ends (the reason is
    /// logged and recorded); the transport then stops reading and calls <see cref="ShutdownAsync"/>.
    /// </summary>
    public async ValueTask<bool> OnFrameAsync(FramingStatus status, byte header, byte[] body, int total)
    {
        if (status == FramingStatus.TooLarge)
        {
            _context.Metrics.PacketTooLargeOnce();
            Violation(MqttDisconnectReasonCode.PacketTooLarge, $"packet of {total} bytes exceeds the maximum of {_context.Options.MaxPacketSize}");
            return false;
        }

        if (status == FramingStatus.Malformed)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, "invalid Remaining Length");
            return false;
        }

        if (_closing)
        {
            return false;
        }

        Volatile.Write(ref _lastReceivedTicks, Environment.TickCount64);
        _context.Metrics.AddBytesReceived(total);
        if (_session is not null && !IsV5 && header >> 4 == PacketHeaders.PublishType)
        {
            if (!HandlePublishV3(header, body))
            {
                return false;
            }
        }
        else if (!await HandlePacketAsync(new ReceivedMqttPacket(header, new ArraySegment<byte>(body), total)).ConfigureAwait(false))
        {
            return false;
        }

        if (_throttle > TimeSpan.Zero)
        {
            // Over the publish rate: stop reading from this client until its bucket is back in credit.
            var wait = _throttle;
            _throttle = TimeSpan.Zero;
            await Task.Delay(wait, _context.Time).ConfigureAwait(false);
        }

        return !_closing;
    }

    /// <summary>
    /// Frames the next packet of a pipe's input: handled where it lies when it is one of the small packets of a publish
    /// flow in the first segment (<see cref="TryHandleInline"/>), else with its body copied out.
    /// </summary>
    private FramingStatus NextFrame(ref ReadOnlySequence<byte> buffer, int maxPacketSize, out byte header, out byte[] body, out int total)
    {
        var first = buffer.FirstSpan;
        if (PacketFraming.TryReadHeader(first, maxPacketSize, out header, out var headerLength, out total) == FramingStatus.Packet
            && first.Length >= total && TryHandleInline(header, first[headerLength..total], total))
        {
            body = [];
            buffer = buffer.Slice(total);
            return FramingStatus.Handled;
        }

        return PacketFraming.TryRead(ref buffer, maxPacketSize, out header, out body, out total);
    }

    /// <summary>
    /// Handles a PUBACK, PUBREC, PUBREL or PUBCOMP with a two-byte body (a packet identifier: success in MQTT 5 too)
    /// or a PINGREQ straight from the receive buffer, without decoding it into an object. False when it is another
    /// packet, or one that needs a closer look (no session yet, closing, identifier 0, reason codes): the caller then
    /// frames it as usual and <see cref="OnFrameAsync"/> handles it.
    /// </summary>
    public bool TryHandleInline(byte header, ReadOnlySpan<byte> body, int total)
    {
        if (_session is not { } session || _closing)
        {
            return false;
        }

        ushort packetId = 0;
        if (header == PacketHeaders.PingReq)
        {
            if (!body.IsEmpty)
            {
                return false;
            }
        }
        else if (header is not (PacketHeaders.PubAck or PacketHeaders.PubRec or PacketHeaders.PubRel or PacketHeaders.PubComp)
            || body.Length != 2 || (packetId = BinaryPrimitives.ReadUInt16BigEndian(body)) == 0)
        {
            return false;
        }

        Volatile.Write(ref _lastReceivedTicks, Environment.TickCount64);
        _context.Metrics.AddBytesReceived(total);
        switch (header)
        {
            case PacketHeaders.PubAck:
                session.OnPubAck(packetId);
                break;
            case PacketHeaders.PubRec:
                if (!session.OnPubRec(packetId, failed: false))
                {
                    SendPubRelNotFound(packetId);
                }

                break;
            case PacketHeaders.PubRel:
                HandlePubRel(packetId);
                break;
            case PacketHeaders.PubComp:
                session.OnPubComp(packetId);
                break;
            default:
                Send(PingResponse);
                break;
        }

        return true;
    }

    private async ValueTask<bool> HandlePacketAsync(ReceivedMqttPacket received)
    {
        MqttPacket packet;
        if (_session is null)
        {
            return await HandleFirstPacketAsync(received).ConfigureAwait(false);
        }

        // Before MQTTnet decodes it: its decoder would turn ill-formed UTF-8 into U+FFFD.
        if (PacketStrings.Check(received.FixedHeader, received.Body, IsV5) is { } illFormed)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, illFormed);
            return false;
        }

        try
        {
            packet = PacketFormatters.For(_protocolVersion).Decode(received);
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
                HandlePubRel(rel.PacketIdentifier);
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

    /// <summary>Ends the connection: pending acknowledgements and DISCONNECT go out, the session is released.</summary>
    public async Task ShutdownAsync()
    {
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

        if (IsV5 && _closeReason is { } reason && _writerEnabled)
        {
            Send(new MqttDisconnectPacket { ReasonCode = reason });
        }

        Task idle;
        lock (_sendGate)
        {
            // Nothing queued from now on is sent; the writer finishes what it has.
            var pending = _writerRunning && !_writerStopped;
            _writerStopped = true;
            if (!pending)
            {
                return;
            }

            idle = (_writerIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        try
        {
            // A peer that stopped reading must not hold the connection open forever.
            await idle.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _transport.Abort();
        }
    }

    /// <summary>
    /// Sends what is queued, flushing once per burst, and ends when the queue is empty (the next packet queued starts
    /// it again). After the shutdown stopped the queue it sends what was queued before and ends. Run inline (on the
    /// thread of a send batch) it sends one burst and leaves the rest to the thread pool, so that a busy subscriber
    /// does not keep a publisher's thread from reading.
    /// </summary>
    private async Task WriterLoopAsync(bool inline)
    {
        var output = _transport.Output;
        var failed = false;
        try
        {
            while (true)
            {
                while (TryDequeue(out var item))
                {
                    switch (item.Item)
                    {
                        case Delivery delivery:
                            WritePublish(output, delivery);
                            break;
                        case BrokerMessage message:
                            Interlocked.Decrement(ref _queuedQos0);
                            WritePublish(output, message, 0, item.Value != 0, dup: false, packetId: 0, subscriptionIds: null, delivery: null);
                            break;
                        case MqttPacket packet:
                            Write(output, packet);
                            break;
                        default:
                            WriteAck(output, item.Value);
                            break;
                    }
                }

                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    failed = true;
                    return;
                }

                OnOutboundFlushed();
                lock (_sendGate)
                {
                    if (_sendQueue is not { Count: > 0 })
                    {
                        _writerRunning = false;
                        _writerIdle?.TrySetResult();
                        return;
                    }
                }

                if (inline)
                {
                    // Still running (_writerRunning stays set): the pool carries on with what was queued meanwhile.
                    ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or InvalidOperationException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The peer is gone; the receive side notices and cleans up.
            failed = true;
        }
        catch (Exception ex)
        {
            // A packet that cannot be encoded is a broker defect: log it and end this connection, never the broker.
            BrokerLog.ConnectionFailed(_broker.Logger, _transport.ConnectionId, ex);
            failed = true;
        }
        finally
        {
            if (failed)
            {
                lock (_sendGate)
                {
                    _writerStopped = true;
                    _writerRunning = false;
                    _sendQueue?.Clear();
                    _writerIdle?.TrySetResult();
                }

                // Wake the receive side if the writer stopped first (peer gone).
                _closing = true;
                _transport.CancelReceive();
            }
        }
    }

    private int Write(PipeWriter output, MqttPacket packet)
    {
        var formatter = PacketFormatters.For(_protocolVersion);
        var buffer = formatter.Encode(packet);
        var length = buffer.Length;
        output.Write(buffer.Packet);
        foreach (var segment in buffer.Payload)
        {
            output.Write(segment.Span);
        }

        formatter.Cleanup();
        _context.Metrics.AddBytesSent(length);
        return length;
    }

    private void WriteAck(PipeWriter output, int ack)
    {
        var span = output.GetSpan(4);
        span[0] = (byte)(ack >> 16);
        span[1] = 2;
        span[2] = (byte)(ack >> 8);
        span[3] = (byte)ack;
        output.Advance(4);
        _context.Metrics.AddBytesSent(4);
    }

    private static readonly MqttPingRespPacket PingResponse = new();

    /// <summary>
    /// One queued packet: a packet object (<see cref="MqttPacket"/>), a PUBLISH with per-subscriber state
    /// (<see cref="Delivery"/>), a plain QoS 0 PUBLISH (<see cref="BrokerMessage"/>; <paramref name="Value"/> 1 when
    /// RETAIN is set), or, with no item, an acknowledgement (<paramref name="Value"/>: fixed header &lt;&lt; 16 | packet id).
    /// </summary>
    private readonly record struct Outbound(object? Item, int Value = 0);
}
