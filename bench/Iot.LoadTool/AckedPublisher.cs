using System.Buffers.Binary;

namespace Iot.LoadTool;

/// <summary>
/// A QoS 1 publisher that keeps at most <c>window</c> PUBLISH packets un-acknowledged and writes the allowed ones in
/// one batch, so the figure is the broker's acknowledged rate and not the round trip of one message at a time.
/// </summary>
internal static class AckedPublisher
{
    private const int MinBatch = 5;

    /// <summary>Writes PUBLISH number <paramref name="index"/> with <paramref name="packetId"/> into <paramref name="destination"/>; returns its length.</summary>
    public delegate int PacketWriter(long index, ushort packetId, Span<byte> destination);

    /// <summary>A writer that copies one template and patches its packet id.</summary>
    public static PacketWriter Template(byte[] template, int packetIdOffset) => (_, packetId, destination) =>
    {
        template.CopyTo(destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[packetIdOffset..], packetId);
        return template.Length;
    };

    /// <summary>Publishes <paramref name="count"/> packets (or until cancelled) and waits for their PUBACKs; returns how many were sent.</summary>
    public static async Task<long> RunAsync(
        MqttConnection connection, PubAckSink acks, PacketWriter write, int maxPacketSize, int window, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[maxPacketSize * window];
        ushort packetId = 0;
        long sent = 0;
        while (sent < count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var wanted = Math.Min(MinBatch, count - sent);
            if (Allowed(acks, window, sent, count) < wanted)
            {
                // Arm first, then look again, so a PUBACK between the check and the wait is not missed.
                var progress = acks.Progress.WaitAsync();
                if (Allowed(acks, window, sent, count) < wanted)
                {
                    await progress.WaitAsync(cancellationToken);
                }

                continue;
            }

            var allowed = Allowed(acks, window, sent, count);
            var length = 0;
            for (var i = 0; i < allowed; i++)
            {
                packetId = packetId == ushort.MaxValue ? (ushort)1 : (ushort)(packetId + 1);
                length += write(sent + i, packetId, buffer.AsSpan(length));
            }

            sent += allowed;
            await connection.SendAsync(buffer.AsMemory(0, length), cancellationToken);
        }

        while (acks.Acked < sent)
        {
            var progress = acks.Progress.WaitAsync();
            if (acks.Acked < sent)
            {
                await progress.WaitAsync(cancellationToken);
            }
        }

        return sent;
    }

    private static int Allowed(PubAckSink acks, int window, long sent, long count) =>
        (int)Math.Min(window - (sent - acks.Acked), count - sent);
}
