using System.Threading.Channels;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Sends a connection's PUBACK/PUBREC in the order the PUBLISH packets arrived (MQTT §4.6), each only after its
/// durable writes committed. When nothing is waiting and the writes are done, the acknowledgement goes out at once
/// (the common case: no channel, no task). Otherwise it waits in a bounded channel read by one loop, created on first
/// use.
/// </summary>
/// <remarks>
/// The bound is <see cref="MqttOptions.ReceiveMaximum"/> acknowledgements. An MQTT 5 client can never reach it (it
/// is disconnected with 0x93 beyond that many unacknowledged publishes); an MQTT 3.1.1 client, which has no such
/// limit, is slowed down instead: the acknowledgement that does not fit is held, and the receive side stops reading
/// from the client (<see cref="MustWait"/>, <see cref="WaitForRoomAsync"/>) until the store has caught up, counted as
/// <c>iot_mqtt_limit_hits_total{limit="pending_acknowledgements"}</c>. Back-pressure reaches the publisher, never an
/// unbounded buffer. One thread at a time enqueues (the receive side); the loop is the only reader.
/// A QoS 0 publish whose writes are still running (a route to a stream) waits here too, acknowledged to nobody, so that
/// the <see cref="DurableBacklog"/> counts it until they are done; it is only enqueued when there is room
/// (<see cref="HasRoom"/>), so it never stops the reading.
/// </remarks>
internal sealed class AckSequencer(MqttConnection connection, BrokerContext context)
{
    private static readonly TimeSpan CompleteTimeout = TimeSpan.FromSeconds(5);

    private Channel<PendingAck>? _channel;
    private Task? _loop;
    private int _queued;
    private PendingAck _held;
    private bool _holding;

    /// <summary>An acknowledgement did not fit: the receive side must <see cref="WaitForRoomAsync"/> before reading on.</summary>
    public bool MustWait => _holding;

    /// <summary>Whether one more entry fits without holding it (the receive side asks before a QoS 0 publish).</summary>
    public bool HasRoom => !_holding && Volatile.Read(ref _queued) < context.Options.ReceiveMaximum;

    /// <summary>Sends <paramref name="ack"/> now, or after those before it and its durable writes.</summary>
    public void Enqueue(PendingAck ack)
    {
        if (Volatile.Read(ref _queued) == 0 && ack.Durable.IsCompleted)
        {
            connection.FinishAck(ack);
            return;
        }

        Interlocked.Increment(ref _queued);
        if (_channel is null)
        {
            var channel = _channel = Channel.CreateBounded<PendingAck>(new BoundedChannelOptions(context.Options.ReceiveMaximum)
            {
                SingleReader = true,
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
            _loop = Task.Run(() => RunAsync(channel.Reader));
        }

        if (!_channel.Writer.TryWrite(ack))
        {
            context.Metrics.LimitHit(LimitKind.PendingAcknowledgements);
            _held = ack;
            _holding = true;
        }
    }

    /// <summary>Waits until the held acknowledgement fits in the channel (the loop made room).</summary>
    public async ValueTask WaitForRoomAsync()
    {
        var held = _held;
        _held = default;
        _holding = false;
        try
        {
            await _channel!.Writer.WriteAsync(held).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Closing: the client resends what it did not see acknowledged.
            connection.ReleaseBacklog(held);
        }
    }

    /// <summary>Lets the acknowledgements whose writes are committing go out, bounded in time (before DISCONNECT).</summary>
    public async Task CompleteAsync()
    {
        if (_holding)
        {
            // Closing before the held one found room: it is never sent, the client resends it.
            _holding = false;
            connection.ReleaseBacklog(_held);
            _held = default;
        }

        _channel?.Writer.TryComplete();
        if (_loop is null)
        {
            return;
        }

        try
        {
            await _loop.WaitAsync(CompleteTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The store is stuck; the client will resend what it did not see acknowledged.
        }
    }

    private async Task RunAsync(ChannelReader<PendingAck> reader)
    {
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var ack))
            {
                try
                {
                    await ack.Durable.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Reported by SendAck through the faulted or cancelled task.
                }

                // Queued for the writer on the thread pool, not sent here: this continuation often runs on the store's
                // commit thread, which must not spend its time on the sockets of every publisher it acknowledges.
                connection.FinishAck(ack);
                Interlocked.Decrement(ref _queued);
            }
        }
    }
}
