using System.Buffers.Binary;

namespace Iot.LoadTool;

/// <summary>Counts PUBLISH packets at a subscriber and, for QoS 1, answers them with PUBACKs sent once per read.</summary>
internal sealed class SubscriberSink(MqttConnection connection, DeliveryWindow window) : IPacketSink
{
    private byte[] _acks = new byte[16 * 1024];
    private int _ackLength;
    private long _count;

    public void OnPacket(byte header, ReadOnlySpan<byte> body)
    {
        if (header >> 4 != MqttWire.PublishType)
        {
            return;
        }

        _count++;
        if (((header >> 1) & 3) == 1)
        {
            var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
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
        if (_pending > 0)
        {
            Interlocked.Add(ref _acked, _pending);
            _pending = 0;
            Progress.Pulse();
        }

        return ValueTask.CompletedTask;
    }
}
