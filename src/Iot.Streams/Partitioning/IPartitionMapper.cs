using System.IO.Hashing;
using System.Text;

namespace Iot.Streams.Partitioning;

/// <summary>Chooses a partition for a record key.</summary>
public interface IPartitionMapper
{
    /// <summary>The partition of <paramref name="key"/> among <paramref name="partitions"/>; round-robin when the key is null.</summary>
    int MapToPartition(string? key, int partitions);
}

/// <summary>
/// Stable hash partitioning: XxHash32 of the key's UTF-8 bytes (seed 0) modulo the partition count, so a key's
/// partition is the same in every process and version; keyless records go round-robin.
/// </summary>
internal sealed class HashPartitionMapper : IPartitionMapper
{
    private int _next = -1;

    /// <inheritdoc/>
    public int MapToPartition(string? key, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partitions);
        if (key is null)
        {
            return (int)((uint)Interlocked.Increment(ref _next) % (uint)partitions);
        }

        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetMaxByteCount(key.Length) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(key, buffer)] : Encoding.UTF8.GetBytes(key);
        return (int)(XxHash32.HashToUInt32(bytes) % (uint)partitions);
    }
}

/// <summary>Extracts partition keys from topics.</summary>
public static class StreamKeys
{
    /// <summary>The device id of <c>devices/{deviceId}/...</c>, or null for other topics.</summary>
    public static string? DeviceIdFromTopic(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        const string Prefix = "devices/";
        if (!topic.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = topic.IndexOf('/', Prefix.Length);
        var id = end < 0 ? topic[Prefix.Length..] : topic[Prefix.Length..end];
        return id.Length == 0 ? null : id;
    }
}
