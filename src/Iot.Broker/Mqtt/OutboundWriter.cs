using System.Buffers;
using System.IO.Pipelines;
using Iot.Broker.Mqtt.Transport;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The outbound half of a connection: a send queue, and a writer that runs only while there is something to send,
/// encodes each packet into the transport's output and flushes once per burst. An idle connection holds no writer
/// task, no queue array and no timer. Nothing is sent before <see cref="Enable"/> (CONNACK); after <see cref="StopAsync"/>
/// nothing more is queued. The queue and the writer's flags are guarded by one lock, a leaf: nothing is called under
/// it. The writer (one at a time) alone touches the encoding state (OutboundWriter.Encoding.cs): outbound topic
/// aliases and the client's limits.
/// </summary>
internal sealed partial class OutboundWriter : IThreadPoolWorkItem
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly MqttTransport _transport;
    private readonly BrokerContext _context;
    private readonly MqttConnection _owner;
    private readonly Lock _gate = new();
    // Guarded by _gate: the queue (created by the first packet to send) and the writer's state.
    private Queue<Outbound>? _queue;
    private bool _enabled;
    private bool _running;
    private bool _stopped;
    private TaskCompletionSource? _idle;
    private int _queuedQos0;
    // Set by CONNECT, read by the writer.
    private uint _clientMaxPacketSize;
    private ushort _clientTopicAliasMaximum;
    private Dictionary<string, ushort>? _topicAliases;

    public OutboundWriter(MqttTransport transport, BrokerContext context, MqttConnection owner)
    {
        _transport = transport;
        _context = context;
        _owner = owner;
    }

    /// <summary>The protocol version packets are encoded in (set by CONNECT; the formatters themselves are per thread).</summary>
    public MqttProtocolVersion ProtocolVersion { get; set; }

    private bool IsV5 => ProtocolVersion == MqttProtocolVersion.V500;

    /// <summary>QoS 0 PUBLISH packets queued and not written yet (bounded by MaxQueuedMessages).</summary>
    public int QueuedQos0 => Volatile.Read(ref _queuedQos0);

    /// <summary>Whether <see cref="Enable"/> was called (a CONNACK can be sent).</summary>
    public bool Enabled => Volatile.Read(ref _enabled);

    /// <summary>The client's Maximum Packet Size and Topic Alias Maximum (MQTT 5 CONNECT; 0: none).</summary>
    public void SetClientLimits(uint maxPacketSize, ushort topicAliasMaximum)
    {
        _clientMaxPacketSize = maxPacketSize;
        _clientTopicAliasMaximum = topicAliasMaximum;
    }

    /// <summary>Queues a PUBLISH (built and encoded by the writer). QoS 0 beyond the queue limit is dropped.</summary>
    public void SendPublish(Delivery delivery)
    {
        if (delivery.QualityOfService > 0 || TakeQos0Slot())
        {
            Enqueue(new Outbound(delivery));
        }
    }

    /// <summary>Queues a QoS 0 PUBLISH of the shared message itself; beyond the queue limit it is dropped.</summary>
    public void SendPublishQos0(BrokerMessage message, bool retain)
    {
        if (TakeQos0Slot())
        {
            Enqueue(new Outbound(message, retain ? 1 : 0));
        }
    }

    /// <summary>Queues a packet object.</summary>
    public void Send(MqttPacket packet) => Enqueue(new Outbound(packet));

    /// <summary>
    /// Queues a successful PUBACK, PUBREC, PUBREL or PUBCOMP as its four bytes, without a packet object: MQTT 3.1.1 has
    /// no more, and MQTT 5 lets the reason code and properties be left out when the reason is success (§3.4.2.1).
    /// </summary>
    public void SendAck(byte fixedHeader, ushort packetId) => Enqueue(new Outbound(null, (fixedHeader << 16) | packetId));

    /// <summary>Lets the writer send what is queued (from CONNACK on; nothing is sent before).</summary>
    public void Enable()
    {
        bool start;
        lock (_gate)
        {
            _enabled = true;
            start = !_running && !_stopped && _queue is { Count: > 0 };
            _running |= start;
        }

        if (start)
        {
            Schedule();
        }
    }

    /// <summary>Gives back the empty queue of an idle connection (the next packet creates it again).</summary>
    public void TrimIdle()
    {
        // Read without the lock first: a writer already trimmed (most idle ones, every tick) takes no lock.
        if (Volatile.Read(ref _queue) is not null)
        {
            lock (_gate)
            {
                if (!_running && _queue is { Count: 0 })
                {
                    _queue = null;
                }
            }
        }
    }

    /// <summary>
    /// Stops the queue (nothing queued from now on is sent) and waits, bounded in time, for the writer to send what
    /// was queued before; a peer that does not read within the bound is aborted.
    /// </summary>
    public async Task StopAsync()
    {
        Task idle;
        lock (_gate)
        {
            var pending = _running && !_stopped;
            _stopped = true;
            if (!pending)
            {
                return;
            }

            idle = (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        try
        {
            // A peer that stopped reading must not hold the connection open forever.
            await idle.WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _transport.Abort();
        }
    }

    /// <summary>Runs the writer on this thread until it has sent everything or must wait for the socket (<see cref="SendBatch"/>).</summary>
    public void RunInline() => _ = WriterLoopAsync(inline: true);

    /// <summary>The thread pool runs the writer (queued by <see cref="Enqueue"/> when it was idle).</summary>
    void IThreadPoolWorkItem.Execute() => _ = WriterLoopAsync(inline: false);

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

    private void Enqueue(Outbound item)
    {
        bool start;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            (_queue ??= new Queue<Outbound>(4)).Enqueue(item);
            start = _enabled && !_running;
            _running |= start;
        }

        if (start)
        {
            Schedule();
        }
    }

    /// <summary>Starts the idle writer: inline at the end of the current batch when one is open, else on the thread pool.</summary>
    private void Schedule()
    {
        if (!SendBatch.TryDefer(this, _context.Options.InlineWritersPerBatch))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    private bool TryDequeue(out Outbound item)
    {
        lock (_gate)
        {
            if (_queue is { Count: > 0 } queue)
            {
                item = queue.Dequeue();
                return true;
            }
        }

        item = default;
        return false;
    }

    /// <summary>
    /// Sends what is queued, flushing once per burst, and ends when the queue is empty (the next packet queued starts
    /// it again). After <see cref="StopAsync"/> it sends what was queued before and ends. Run inline (on the thread of
    /// a send batch) it sends one burst and leaves the rest to the thread pool, so that a busy subscriber does not keep
    /// a publisher's thread from reading.
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

                _owner.OnOutboundFlushed();
                lock (_gate)
                {
                    if (_queue is not { Count: > 0 })
                    {
                        _running = false;
                        _idle?.TrySetResult();
                        return;
                    }
                }

                if (inline)
                {
                    // Still running (_running stays set): the pool carries on with what was queued meanwhile.
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
            BrokerLog.ConnectionFailed(_owner.Logger, _transport.ConnectionId, ex);
            failed = true;
        }
        finally
        {
            if (failed)
            {
                lock (_gate)
                {
                    _stopped = true;
                    _running = false;
                    _queue?.Clear();
                    _idle?.TrySetResult();
                }

                // Wake the receive side if the writer stopped first (peer gone).
                _owner.OnWriterFailed();
            }
        }
    }

    /// <summary>
    /// One queued packet: a packet object (<see cref="MqttPacket"/>), a PUBLISH with per-subscriber state
    /// (<see cref="Delivery"/>), a plain QoS 0 PUBLISH (<see cref="BrokerMessage"/>; <paramref name="Value"/> 1 when
    /// RETAIN is set), or, with no item, an acknowledgement (<paramref name="Value"/>: fixed header &lt;&lt; 16 | packet id).
    /// </summary>
    private readonly record struct Outbound(object? Item, int Value = 0);
}
