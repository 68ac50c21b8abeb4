using Iot.Broker.Mqtt.Transport;
using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// One network connection speaking MQTT: the slim core that its parts hang from. A transport hands it framed packets
/// (<see cref="TryHandleInline"/>, <see cref="OnFrameAsync"/>: the same way for every transport, see
/// <see cref="Transport.FrameHandling"/>) and it handles them by type (partial files: Packets, Connect, Admission,
/// InboundPublish, Subscribe, Info). Its parts own their state: the <see cref="OutboundWriter"/> (send queue, writer,
/// encoding, outbound aliases), the <see cref="InboundPublishGuard"/> (inbound aliases, topic limits, rate, ACL,
/// Receive Maximum), the <see cref="AckSequencer"/> (ordered acknowledgements) and the <see cref="KeepAliveMonitor"/>.
/// </summary>
/// <remarks>
/// Locks: the connection holds none of its own. The writer's queue lock is a leaf (nothing is called under it); a
/// session may call <see cref="IDeliveryTarget"/> members under the session's lock, which then takes the writer's.
/// </remarks>
internal sealed partial class MqttConnection : IDeliveryTarget
{
    private readonly MqttTransport _transport;
    private readonly ConnectionServices _broker;
    private readonly OutboundWriter _writer;
    private readonly InboundPublishGuard _guard;
    // Created by the first acknowledgement that has to wait for a durable write: most connections never need it.
    private AckSequencer? _acks;
    // A struct: its members are called on this field, never on a copy.
    private KeepAliveMonitor _keepAlive;
    private MqttSession? _session;
    private volatile bool _closing;
    private MqttDisconnectReasonCode? _closeReason;
    // Load leveling (DurableBacklog): set by the receive side, read by the keep-alive tick.
    private volatile BacklogRole _backlog;
    // Set when a new connection with the same client id took this one over: that connection's Clean Start.
    private bool? _takeoverCleanStart;

    public MqttConnection(MqttTransport transport, ConnectionServices broker)
    {
        _transport = transport;
        _broker = broker;
        _writer = new OutboundWriter(transport, broker.Context, this);
        _guard = new InboundPublishGuard(broker.Context);
        _keepAlive = new KeepAliveMonitor(broker.Context.Time);
    }

    /// <summary>The client id, once CONNECT was admitted; empty before.</summary>
    public string ClientId => _admitted ? _principal!.ClientId : string.Empty;

    public MqttProtocolVersion ProtocolVersion => _writer.ProtocolVersion;

    private bool IsV5 => _writer.ProtocolVersion == MqttProtocolVersion.V500;

    /// <summary>The settings, store, counters and clock the connection works with.</summary>
    internal BrokerContext Context => _broker.Context;

    /// <summary>The logger of connections.</summary>
    internal ILogger Logger => _broker.Logger;

    /// <summary>Set when a new connection with the same client id took this one over.</summary>
    public bool TakenOver => _takeoverCleanStart is not null;

    /// <summary>Clean Start of the connection that took this one over.</summary>
    public bool TakeoverCleanStart => _takeoverCleanStart ?? false;

    /// <summary>Closing: the receive side stops at the next packet boundary or wait.</summary>
    public bool IsClosing => _closing;

    /// <summary>Whether closing sends (or sent) a DISCONNECT with the reason: MQTT 5, a reason, and CONNACK could be sent.</summary>
    public bool DisconnectSent => IsV5 && _closeReason is not null && _writer.Enabled;

    /// <summary>QoS 0 PUBLISH packets handed to this connection and not written yet (bounded by MaxQueuedMessages).</summary>
    public int QueuedQos0 => _writer.QueuedQos0;

    /// <summary>Counts and registers a new connection; the transport calls it before the first frame.</summary>
    public void Open()
    {
        Context.Metrics.ConnectionOpened();
        _broker.Sessions.Register(this);
    }

    /// <summary>The session was taken over by a new connection: DISCONNECT 0x8E (MQTT 5) and close.</summary>
    public void MarkTakenOver(bool newCleanStart) => _takeoverCleanStart = newCleanStart;

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
    /// Called every second (<see cref="SessionMaintenanceService"/>): closes a connection that sent no CONNECT within
    /// the connect timeout, or nothing for 1.5 times its keep-alive, and trims an idle one (so no connection needs a
    /// timer of its own).
    /// </summary>
    public void CheckKeepAlive()
    {
        var options = Context.Options;
        if (_backlog == BacklogRole.Paused)
        {
            // Not reading is the broker's doing, not the client's silence: its PINGREQs wait unread in the socket.
            _keepAlive.Heard();
        }

        switch (_keepAlive.Check(Context.Time, _session is not null, options.ConnectTimeoutSeconds, options.IdleTrimSeconds))
        {
            case KeepAliveVerdict.ConnectTimedOut when !_closing:
                _broker.Refusals.Add(ConnectionRefusals.ConnectTimeout, _transport.ConnectionId, "no CONNECT within the connect timeout");
                _closing = true;
                _transport.CancelReceive();
                break;
            case KeepAliveVerdict.KeepAliveExpired:
                Context.Metrics.Add(BrokerCounter.KeepAliveTimeouts);
                Close(MqttDisconnectReasonCode.KeepAliveTimeout);
                break;
            case KeepAliveVerdict.Idle:
                TrimIdle();
                break;
        }
    }

    /// <summary>
    /// Drops the empty send queue, the remembered topic and the session's empty in-flight map of a connection that
    /// has received nothing for <see cref="MqttOptions.IdleTrimSeconds"/>: an idle connection keeps only what it
    /// needs to wake up.
    /// </summary>
    private void TrimIdle()
    {
        _writer.TrimIdle();
        _guard.TrimIdle();
        _session?.TrimIdle();
    }

    /// <summary>Queues a PUBLISH (built and encoded by the writer). QoS 0 beyond the queue limit is dropped.</summary>
    public void SendPublish(Delivery delivery) => _writer.SendPublish(delivery);

    /// <summary>
    /// Queues a QoS 0 PUBLISH that needs nothing of its own (no subscription identifiers, nothing to track): the
    /// shared message itself, without a <see cref="Delivery"/>. Beyond the queue limit it is dropped.
    /// </summary>
    public void SendPublishQos0(BrokerMessage message, bool retain) => _writer.SendPublishQos0(message, retain);

    public void SendPubRel(ushort packetId) => _writer.SendAck(PacketHeaders.PubRel, packetId);

    private void Send(MqttPacket packet) => _writer.Send(packet);

    /// <summary>The writer flushed a burst: the session may send more retained messages owed since a SUBSCRIBE.</summary>
    internal void OnOutboundFlushed() => _session?.FeedRetained(this);

    /// <summary>
    /// The writer discarded a PUBLISH larger than the client's Maximum Packet Size (MQTT 5 §3.1.2.11.4): the session
    /// behaves as if it had been sent and acknowledged.
    /// </summary>
    internal void OnPublishDiscarded(byte qos, ushort packetId)
    {
        if (qos == 1)
        {
            _session?.OnPubAck(packetId);
        }
        else if (qos == 2)
        {
            _session?.OnPubRec(packetId, failed: true);
        }
    }

    /// <summary>The writer stopped first (the peer is gone): wake the receive side.</summary>
    internal void OnWriterFailed()
    {
        _closing = true;
        _transport.CancelReceive();
    }

    /// <summary>Ends the connection: pending acknowledgements and DISCONNECT go out, the session is released.</summary>
    public async Task ShutdownAsync()
    {
        _closing = true;
        try
        {
            // Acknowledgements whose writes are committing still go out before DISCONNECT.
            if (_acks is { } acks)
            {
                await acks.CompleteAsync().ConfigureAwait(false);
            }
            if (DisconnectSent && _closeReason is { } reason)
            {
                Send(new MqttDisconnectPacket { ReasonCode = reason });
            }

            await _writer.StopAsync().ConfigureAwait(false);
            if (_session is { } session)
            {
                var will = _departure.WillToPublish;
                _broker.Sessions.Disconnected(session, this, will?.Message, will?.DelaySeconds ?? 0);
                BrokerLog.ClientDisconnected(_broker.Logger, ClientId, _departure.WillCancelled, _closeReason);
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
                _broker.Admission.Release(_principal?.Username);
            }

            _broker.Sessions.Unregister(this);
            Context.Metrics.ConnectionClosed();
            if (_departure.ConnectedEventRaised)
            {
                _broker.ConnectionEvents.Disconnected(_principal!, ProtocolVersion, _departure.ClientDisconnected, _closeReason,
                    Context.Time.GetElapsedTime(_departure.ConnectedEventAt));
            }
        }
    }

    /// <summary>Where the connection stands with the durable backlog (<see cref="DurableBacklog"/>, load leveling).</summary>
    private enum BacklogRole : byte
    {
        /// <summary>Its last publish did not add to the backlog.</summary>
        None,

        /// <summary>Its last QoS 1/2 publish added to the backlog: while the backlog is full, the receive side waits.</summary>
        Feeds,

        /// <summary>The receive side waits for the backlog to drain (so the client's silence is not its own).</summary>
        Paused,
    }

    /// <summary>The identity's ACL checks for publish and subscribe (set by CONNECT).</summary>
    private bool CanPublish(string topic) => _guard.CanPublish(topic);

    private bool CanSubscribe(string filter, out DeliveryCheck? deliveryCheck) => _guard.CanSubscribe(filter, out deliveryCheck);
}
