using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iot.Broker.Cluster.Leases;

/// <summary>What a holder writes to <c>iot-leases</c> under a lease's key on acquiring and each renewal (JSON).</summary>
/// <param name="Holder">The holder's node id.</param>
/// <param name="Instance">The holder's coordinator (one per run of a node): a restarted node takes over its previous run's leases at once.</param>
/// <param name="AcquiredAt">When the holder acquired the lease (its clock).</param>
/// <param name="RenewedAt">When the holder sent this renewal (its clock): the lease expires <see cref="DurationMs"/> later.</param>
/// <param name="DurationMs">The holder's lease duration in milliseconds.</param>
internal sealed record LeaseRecord(string Holder, string Instance, DateTimeOffset AcquiredAt, DateTimeOffset RenewedAt, long DurationMs)
{
    public TimeSpan Duration => TimeSpan.FromMilliseconds(DurationMs);

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, LeasesJsonContext.Default.LeaseRecord);

    /// <summary>The record in <paramref name="json"/>; null when it is not one (a broken writer: treated as expired).</summary>
    public static LeaseRecord? FromJson(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, LeasesJsonContext.Default.LeaseRecord) is { Holder.Length: > 0, Instance.Length: > 0 } record ? record : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The key of the lease <paramref name="name"/>: key-value keys allow <c>A-Z a-z 0-9 - _ / = .</c>, so every other
    /// byte of its UTF-8 (and <c>=</c> itself) becomes <c>=XX</c>; an empty level (<c>a..b</c>, a leading or trailing
    /// <c>.</c>) is not a valid key either, so <c>.</c> next to another <c>.</c> or at an end is escaped too.
    /// </summary>
    public static string Key(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var bytes = Encoding.UTF8.GetBytes(name);
        var key = new StringBuilder(bytes.Length + 8);
        for (int i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            var plain = b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'-' or (byte)'_' or (byte)'/'
                || (b == (byte)'.' && i > 0 && i < bytes.Length - 1 && bytes[i - 1] != (byte)'.' && bytes[i + 1] != (byte)'.');
            if (plain)
            {
                key.Append((char)b);
            }
            else
            {
                key.Append('=').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return key.ToString();
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LeaseRecord))]
internal sealed partial class LeasesJsonContext : JsonSerializerContext;
