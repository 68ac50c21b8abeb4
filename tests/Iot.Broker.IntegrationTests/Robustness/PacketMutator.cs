using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>How a packet was damaged; <see cref="None"/> is a well-formed packet.</summary>
internal enum Mutation
{
    None,
    TruncatedBody,
    LengthTooShort,
    LengthTooLong,
    LengthFiveBytes,
    LengthHuge,
    LengthNotMinimal,
    FlippedBits,
    WrongFlags,
    ForbiddenPacketType,
    InvalidUtf8,
    NullCharacter,
    WildcardInTopicName,
    EmptyTopic,
    InvalidTopicFilter,
    BogusPropertyId,
    DuplicateProperty,
    InvalidPropertyValue,
    PropertyLengthMismatch,
    PacketIdZero,
    BadSubscriptionOptions,
    NoTopicFilters,
    NearMaxPacketSize,
    RandomBytes,
}

/// <summary>How a fuzz connection writes its packets.</summary>
internal enum WriteMode
{
    /// <summary>One write per packet.</summary>
    PerPacket,

    /// <summary>Everything after CONNECT in one write: many packets per read on the broker side.</summary>
    Burst,

    /// <summary>Each packet split into a few writes: packets straddle reads.</summary>
    Fragmented,
}

/// <summary>One packet as sent: its nominal type, how it was damaged and its bytes.</summary>
internal sealed record FuzzPacket(MqttControlPacketType Type, Mutation Mutation, byte[] Bytes)
{
    public override string ToString() =>
        $"{Type}/{Mutation} {Bytes.Length} B: {Convert.ToHexString(Bytes.AsSpan(0, Math.Min(Bytes.Length, 48)))}{(Bytes.Length > 48 ? "…" : "")}";
}

/// <summary>What one fuzz connection does, generated up front so that a seed and an index reproduce it exactly.</summary>
/// <param name="Index">The sequence's number for its mutator (0-based).</param>
/// <param name="Version">The protocol the packets are encoded for.</param>
/// <param name="ValidConnectFirst">The first packet is a well-formed CONNECT: the client waits for CONNACK before the rest.</param>
/// <param name="Packets">Everything to send, in order.</param>
/// <param name="CloseAfterBytes">When not null, only this many bytes of the last packet are sent before the socket closes.</param>
/// <param name="Mode">How the packets are written.</param>
/// <param name="Abort">Close with RST (linger 0) instead of FIN.</param>
internal sealed record FuzzSequence(int Index, MqttProtocolVersion Version, bool ValidConnectFirst, IReadOnlyList<FuzzPacket> Packets, int? CloseAfterBytes, WriteMode Mode, bool Abort)
{
    public int MutatedCount => Packets.Count(p => p.Mutation != Mutation.None);

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append($"sequence {Index}: MQTT {(Version == MqttProtocolVersion.V500 ? "5" : "3.1.1")}, {Mode}, {(Abort ? "RST" : "FIN")}");
        if (CloseAfterBytes is { } cut)
        {
            text.Append($", closes after {cut} bytes of the last packet");
        }

        foreach (var packet in Packets)
        {
            text.Append("\n    ").Append(packet);
        }

        return text.ToString();
    }
}

/// <summary>
/// Builds well-formed MQTT 3.1.1 and 5.0 packets of every client-to-server type with MQTTnet's formatter, and damages
/// them with a seeded <see cref="Random"/>: lying Remaining Lengths, wrong fixed-header flags, ill-formed UTF-8 and
/// U+0000 in strings, wildcards or nothing where a topic name belongs, bogus, duplicate and invalid properties,
/// packet id 0, flipped bits, truncation and plain random bytes. One instance per worker (not thread-safe); the same
/// seed yields the same sequences, whatever the broker answers.
/// </summary>
internal sealed partial class PacketMutator
{
    /// <summary>Put into every string of a packet that is to get ill-formed UTF-8 or U+0000, then overwritten byte for byte.</summary>
    private const string Marker = "~Z~Z";
    private const double MutationRate = 0.4;
    private static readonly byte[] MarkerBytes = Encoding.ASCII.GetBytes(Marker);
    private static readonly Mutation[] AllMutations = Enum.GetValues<Mutation>()[1..];

    private static readonly byte[][] IllFormedUtf8 =
    [
        [0xFF, 0x41, 0x41, 0x41], // never valid in UTF-8
        [0xC0, 0x80, 0x41, 0x41], // overlong U+0000
        [0xED, 0xA0, 0x80, 0x41], // a UTF-16 surrogate (U+D800)
        [0xC3, 0x28, 0x41, 0x41], // lead byte without its continuation
        [0xF4, 0x90, 0x80, 0x80], // beyond U+10FFFF
        [0x80, 0x80, 0x80, 0x80], // continuation bytes alone
        [0x41, 0x41, 0x41, 0xE2], // sequence cut by the end of the string
        [0xF8, 0x88, 0x80, 0x80], // 5-byte form
    ];

    private readonly Random _random;
    private readonly int _maxPacketSize;
    private readonly string _clientIdPrefix;
    private readonly IReadOnlySet<Mutation> _excluded;
    private readonly MqttPacketFormatterAdapter _v311 = new(MqttProtocolVersion.V311, new MqttBufferWriter(4096, 1 << 20));
    private readonly MqttPacketFormatterAdapter _v500 = new(MqttProtocolVersion.V500, new MqttBufferWriter(4096, 1 << 20));
    private int _sequences;
    private ushort _packetId;

    /// <param name="seed">Everything this mutator produces follows from it.</param>
    /// <param name="maxPacketSize">The broker's Maximum Packet Size, for packets just under and over it.</param>
    /// <param name="clientIdPrefix">Client ids are this prefix and one of 8 suffixes, so persistent sessions stay bounded.</param>
    /// <param name="excluded">Mutations never to pick, to look past a known defect (the others keep their sequences' shape).</param>
    public PacketMutator(int seed, int maxPacketSize, string clientIdPrefix, IReadOnlySet<Mutation>? excluded = null)
    {
        _random = new Random(seed);
        _maxPacketSize = maxPacketSize;
        _clientIdPrefix = clientIdPrefix;
        _excluded = excluded ?? new HashSet<Mutation>();
    }

    /// <summary>
    /// The next connection's script: most start with a valid CONNECT (3.1.1 or 5 at random), some with a damaged one,
    /// some send other packets before CONNECT; some send a second CONNECT; some close in the middle of a packet.
    /// </summary>
    public FuzzSequence NextSequence()
    {
        var version = _random.Next(2) == 0 ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500;
        var packets = new List<FuzzPacket>();
        var opening = _random.NextDouble();
        var validConnectFirst = false;
        if (opening < 0.08)
        {
            // Packets before CONNECT; half of the time the CONNECT follows anyway.
            for (var i = _random.Next(1, 4); i > 0; i--)
            {
                packets.Add(Next(version));
            }

            if (_random.Next(2) == 0)
            {
                packets.Add(Connect(version));
            }
        }
        else if (opening < 0.18)
        {
            packets.Add(Damage(MqttControlPacketType.Connect, version, PickMutation(MqttControlPacketType.Connect, version)));
        }
        else
        {
            packets.Add(Connect(version));
            validConnectFirst = true;
        }

        for (var i = _random.Next(1, 25); i > 0; i--)
        {
            packets.Add(Next(version));
        }

        if (_random.NextDouble() < 0.06)
        {
            // A second CONNECT, possibly of the other protocol version.
            var other = _random.Next(3) == 0 ? (version == MqttProtocolVersion.V500 ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500) : version;
            packets.Insert(_random.Next(1, packets.Count + 1), Connect(other));
        }

        if (_random.NextDouble() < 0.25)
        {
            packets.Add(Valid(MqttControlPacketType.Disconnect, version));
        }

        int? closeAfter = null;
        if (_random.NextDouble() < 0.1 && packets[^1].Bytes.Length > 1)
        {
            closeAfter = _random.Next(1, packets[^1].Bytes.Length);
        }

        var mode = _random.Next(10) switch
        {
            < 5 => WriteMode.PerPacket,
            < 8 => WriteMode.Burst,
            _ => WriteMode.Fragmented,
        };
        return new FuzzSequence(_sequences++, version, validConnectFirst, packets, closeAfter, mode, _random.Next(2) == 0);
    }

    /// <summary>A random packet of a random client-to-server type, damaged with probability 0.4.</summary>
    public FuzzPacket Next(MqttProtocolVersion version)
    {
        var type = _random.Next(100) switch
        {
            < 36 => MqttControlPacketType.Publish,
            < 48 => MqttControlPacketType.Subscribe,
            < 56 => MqttControlPacketType.Unsubscribe,
            < 60 => MqttControlPacketType.PubAck,
            < 64 => MqttControlPacketType.PubRec,
            < 68 => MqttControlPacketType.PubRel,
            < 72 => MqttControlPacketType.PubComp,
            < 82 => MqttControlPacketType.PingReq,
            < 85 => MqttControlPacketType.Disconnect,
            < 88 => version == MqttProtocolVersion.V500 ? MqttControlPacketType.Auth : MqttControlPacketType.PingReq,
            _ => MqttControlPacketType.Connect,
        };

        // A well-formed DISCONNECT or CONNECT ends the interesting part of a connection; mostly send them damaged.
        var rate = type is MqttControlPacketType.Disconnect or MqttControlPacketType.Connect ? 0.8 : MutationRate;
        return _random.NextDouble() < rate ? Damage(type, version, PickMutation(type, version)) : Valid(type, version);
    }

    /// <summary>A well-formed CONNECT with a clean session (no session outlives the connection).</summary>
    public FuzzPacket Connect(MqttProtocolVersion version) => Valid(MqttControlPacketType.Connect, version);

    public FuzzPacket Valid(MqttControlPacketType type, MqttProtocolVersion version) =>
        new(type, Mutation.None, Encode(Build(type, version, Mutation.None), version));

    /// <summary>A packet of <paramref name="type"/> damaged by <paramref name="mutation"/> (bit flips when it does not apply).</summary>
    public FuzzPacket Damage(MqttControlPacketType type, MqttProtocolVersion version, Mutation mutation)
    {
        if (mutation == Mutation.RandomBytes)
        {
            var garbage = new byte[_random.Next(1, 300)];
            _random.NextBytes(garbage);
            return new FuzzPacket(type, mutation, garbage);
        }

        var packet = Encode(Build(type, version, mutation), version);
        if (Apply(mutation, type, version, packet) is { } damaged)
        {
            return new FuzzPacket(type, mutation, damaged);
        }

        return new FuzzPacket(type, Mutation.FlippedBits, FlipBits(packet));
    }

    private Mutation PickMutation(MqttControlPacketType type, MqttProtocolVersion version)
    {
        while (true)
        {
            var mutation = AllMutations[_random.Next(AllMutations.Length)];

            // Packets near 64 KiB would otherwise carry most of the bytes of a run.
            if (Applies(mutation, type, version) && !_excluded.Contains(mutation) && (mutation != Mutation.NearMaxPacketSize || _random.Next(4) == 0))
            {
                return mutation;
            }
        }
    }

    private static bool Applies(Mutation mutation, MqttControlPacketType type, MqttProtocolVersion version)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var hasBody = type != MqttControlPacketType.PingReq && (v5 || type != MqttControlPacketType.Disconnect);
        return mutation switch
        {
            Mutation.TruncatedBody or Mutation.LengthTooShort => hasBody,
            Mutation.InvalidUtf8 or Mutation.NullCharacter => v5 || type is MqttControlPacketType.Connect or MqttControlPacketType.Publish
                or MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe,
            Mutation.WildcardInTopicName => type is MqttControlPacketType.Publish or MqttControlPacketType.Connect,
            Mutation.EmptyTopic => type is MqttControlPacketType.Publish or MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe,
            Mutation.InvalidTopicFilter or Mutation.NoTopicFilters => type is MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe,
            Mutation.BadSubscriptionOptions => type == MqttControlPacketType.Subscribe,
            Mutation.BogusPropertyId or Mutation.DuplicateProperty or Mutation.InvalidPropertyValue or Mutation.PropertyLengthMismatch =>
                v5 && type != MqttControlPacketType.PingReq,
            Mutation.PacketIdZero => type is MqttControlPacketType.Publish or MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe
                or MqttControlPacketType.PubAck or MqttControlPacketType.PubRec or MqttControlPacketType.PubRel or MqttControlPacketType.PubComp,
            Mutation.NearMaxPacketSize => type == MqttControlPacketType.Publish,
            _ => true,
        };
    }

    private byte[] Encode(MqttPacket packet, MqttProtocolVersion version)
    {
        var formatter = version == MqttProtocolVersion.V500 ? _v500 : _v311;
        var bytes = formatter.Encode(packet).ToArray();
        formatter.Cleanup();
        return bytes;
    }

    private ushort NextPacketId()
    {
        _packetId = (ushort)(_packetId % ushort.MaxValue + 1);
        return _packetId;
    }

    /// <summary>A topic name from a bounded set, so that retained messages stay bounded however long the run.</summary>
    private string TopicName() => _random.Next(3) switch
    {
        0 => $"fuzz/{_random.Next(16)}",
        1 => $"fuzz/{_random.Next(16)}/{(char)('a' + _random.Next(3))}",
        _ => $"fuzz/{_random.Next(4)}/x/y/z",
    };

    private string TopicFilter() => _random.Next(10) switch
    {
        0 => "#",
        1 => "fuzz/#",
        2 => "fuzz/+",
        3 => "+/+/a",
        4 => "$share/g/fuzz/#",
        5 => "$SYS/#",
        _ => TopicName(),
    };

    private string BadTopicFilter() => _random.Next(8) switch
    {
        0 => "fuzz/#/x",
        1 => "fuzz/a+",
        2 => "fuzz/#a",
        3 => "+#",
        4 => "$share/",
        5 => "$share/g",
        6 => "$share//fuzz",
        _ => "$share/g+/fuzz",
    };

    private string WildcardTopicName() => _random.Next(4) switch
    {
        0 => "fuzz/+/x",
        1 => "fuzz/#",
        2 => "#",
        _ => "+",
    };

    private byte[] Payload()
    {
        var length = _random.Next(100) switch
        {
            < 70 => _random.Next(0, 33),
            < 99 => _random.Next(33, 1025),
            _ => _random.Next(1025, _maxPacketSize / 2),
        };
        var payload = new byte[length];
        _random.NextBytes(payload);
        return payload;
    }

    private string ClientId() => $"{_clientIdPrefix}-{_random.Next(8)}";

    private List<MqttUserProperty>? UserProperties(bool v5, Func<string, string> text) =>
        v5 && _random.Next(3) == 0 ? [UserProperty(text("k"), text("v")), UserProperty(text("k"), text("w"))] : null;

    private static MqttUserProperty UserProperty(string name, string value) => new(name, new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(value)));
}
