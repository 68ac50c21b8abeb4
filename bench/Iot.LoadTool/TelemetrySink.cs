using System.Buffers.Binary;

namespace Iot.LoadTool;

/// <summary>
/// The one QoS 1 subscriber of the telemetry fan-in: acknowledges every PUBLISH (one write of PUBACKs per read) and
/// accounts for every message by publisher and sequence number (carried in the payload), so that loss, duplicates and
/// reordering are counted exactly, not estimated. Called on the subscriber's read loop only; the per-publisher counts
/// it publishes are read by the publishers for their end-to-end window.
/// </summary>
internal sealed class TelemetrySink : IPacketSink
{
    /// <summary>Payload bytes the sink reads: the publisher's index (4) and the message's sequence number (8).</summary>
    public const int HeaderSize = 12;

    private readonly MqttConnection _connection;
    private readonly int _topicLength;
    private readonly int _payloadSize;
    private readonly long[] _unique;
    private readonly AsyncSignal[] _progress;
    private readonly List<ulong>[] _seen;
    private readonly long[] _highest;
    private readonly bool[] _touched;
    private readonly List<int> _touchedList = [];
    private byte[] _acks = new byte[16 * 1024];
    private int _ackLength;
    private long _received;
    private long _duplicates;
    private long _outOfOrder;
    private long _malformed;

    public TelemetrySink(MqttConnection connection, int publishers, int topicLength, int payloadSize)
    {
        _connection = connection;
        _topicLength = topicLength;
        _payloadSize = payloadSize;
        _unique = new long[publishers];
        _progress = new AsyncSignal[publishers];
        _seen = new List<ulong>[publishers];
        _highest = new long[publishers];
        _touched = new bool[publishers];
        for (var i = 0; i < publishers; i++)
        {
            _progress[i] = new AsyncSignal();
            _seen[i] = [];
        }
    }

    /// <summary>Distinct messages received (a duplicate counts once), all publishers.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Messages received a second time.</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Messages that arrived after a later one of the same publisher.</summary>
    public long OutOfOrder => Volatile.Read(ref _outOfOrder);

    /// <summary>Deliveries whose topic or payload was not one the publishers sent.</summary>
    public long Malformed => Volatile.Read(ref _malformed);

    /// <summary>Distinct messages of publisher <paramref name="publisher"/> received so far.</summary>
    public long ReceivedFrom(int publisher) => Volatile.Read(ref _unique[publisher]);

    /// <summary>Pulsed after a read that brought messages of <paramref name="publisher"/>.</summary>
    public AsyncSignal ProgressOf(int publisher) => _progress[publisher];

    /// <summary>Wakes every publisher (at the end of a run).</summary>
    public void ReleaseAll()
    {
        foreach (var signal in _progress)
        {
            signal.Pulse();
        }
    }

    public void OnPacket(byte header, ReadOnlySpan<byte> body)
    {
        if (header >> 4 != MqttWire.PublishType)
        {
            return;
        }

        var qos = (header >> 1) & 3;
        var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
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

        var afterId = 2 + topicLength + (qos > 0 ? 2 : 0);
        if (_connection.ProtocolLevel == 5)
        {
            MqttWire.TryReadVarInt(body[afterId..], out var propertiesLength, out var size);
            afterId += size + propertiesLength;
        }

        var payload = body[afterId..];
        var publisher = payload.Length >= HeaderSize ? BinaryPrimitives.ReadInt32BigEndian(payload) : -1;
        if (qos != 1 || topicLength != _topicLength || payload.Length != _payloadSize || !body[2..].StartsWith("devices/"u8)
            || (uint)publisher >= (uint)_unique.Length)
        {
            Interlocked.Increment(ref _malformed);
            return;
        }

        Account(publisher, BinaryPrimitives.ReadInt64BigEndian(payload[4..]));
    }

    public async ValueTask OnBatchEndAsync(CancellationToken cancellationToken)
    {
        if (_ackLength > 0)
        {
            var length = _ackLength;
            _ackLength = 0;
            await _connection.SendAsync(_acks.AsMemory(0, length), cancellationToken);
        }

        foreach (var publisher in _touchedList)
        {
            _touched[publisher] = false;
            _progress[publisher].Pulse();
        }

        _touchedList.Clear();
    }

    private void Account(int publisher, long sequence)
    {
        // One bit per sequence number (from 0): a set bit is a duplicate.
        var words = _seen[publisher];
        var word = (int)(sequence >> 6);
        while (words.Count <= word)
        {
            words.Add(0);
        }

        var bit = 1UL << (int)(sequence & 63);
        if ((words[word] & bit) != 0)
        {
            Interlocked.Increment(ref _duplicates);
            return;
        }

        words[word] |= bit;
        if (sequence < _highest[publisher])
        {
            Interlocked.Increment(ref _outOfOrder);
        }
        else
        {
            _highest[publisher] = sequence;
        }

        Volatile.Write(ref _unique[publisher], _unique[publisher] + 1);
        Interlocked.Increment(ref _received);
        if (!_touched[publisher])
        {
            _touched[publisher] = true;
            _touchedList.Add(publisher);
        }
    }
}
