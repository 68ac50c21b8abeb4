using System.Buffers.Binary;

namespace Iot.LoadTool;

/// <summary>
/// Counts PUBLISH packets at a subscriber and, for QoS 1, answers them with PUBACKs sent once per read.
/// Each delivery's shape is checked (topic under bench/, payload size and content) so a count never includes garbage.
/// </summary>
internal sealed class SubscriberSink(MqttConnection connection, DeliveryWindow window, int payloadSize) : IPacketSink
{
    private byte[] _acks = new byte[16 * 1024];
    private int _ackLength;
    private long _count;
    private long _malformed;

    public long Malformed => Volatile.Read(ref _malformed);

    public void OnPacket(byte header, ReadOnlySpan<byte> body)
    {
        if (header >> 4 != MqttWire.PublishType)
        {
            return;
        }

        var qos = (header >> 1) & 3;
        var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        var payload = body[(2 + topicLength + (qos > 0 ? 2 : 0))..];
        if (payload.Length != payloadSize || !body[2..].StartsWith("bench/"u8) || (payloadSize > 0 && payload[^1] != (byte)('a' + ((payloadSize - 1) % 26))))
        {
            Interlocked.Increment(ref _malformed);
        }

        _count++;
        if (qos == 1)
        {
            var packetId = BinaryPrimitives.ReadUInt16BigEndian(body[(2 + topicLength)..]);
            if (_ackLength + 4 > _acks.Length)
            {
                Array.Resize(ref _acks, _acks.Length * 2);
            }

            MqttWire.WritePubAck(_acks.AsSpan(_ackLength), packetId);
            _ackLength += 4;
        }
    }

    public async ValueTask OnBatchEndAsync(CancellationToken cancellationToken)
    {
        if (_ackLength > 0)
        {
            var length = _ackLength;
            _ackLength = 0;
            await connection.SendAsync(_acks.AsMemory(0, length), cancellationToken);
        }

        if (_count > 0)
        {
            window.AddReceived(_count);
            _count = 0;
        }
    }
}

/// <summary>Counts PUBACKs at a QoS 1 publisher.</summary>
internal sealed class PubAckSink : IPacketSink
{
    private long _acked;
    private long _pending;

    public AsyncSignal Progress { get; } = new();

    public long Acked => Volatile.Read(ref _acked);

    public void OnPacket(byte header, ReadOnlySpan<byte> body)
    {
        if (header == MqttWire.PubAck)
        {
            _pending++;
        }
    }

    public ValueTask OnBatchEndAsync(CancellationToken cancellationToken)
    {
        Flush();
        return ValueTask.CompletedTask;
    }

    /// <summary>Publishes the count of the PUBACKs just read.</summary>
    public void Flush()
    {
        if (_pending > 0)
        {
            Interlocked.Add(ref _acked, _pending);
            _pending = 0;
            Progress.Pulse();
        }
    }
}
