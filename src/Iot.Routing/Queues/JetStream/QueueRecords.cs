using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Iot.Routing.Internal;

namespace Iot.Routing.Queues.JetStream;

/// <summary>
/// What a message key (<c>m.&lt;id&gt;</c>) of a queue's bucket holds besides the body. The value is a 4-byte
/// big-endian length, this header as JSON, then the body, so a state change rewrites one value under one
/// compare-and-set.
/// </summary>
internal sealed record MessageHeader
{
    /// <summary>The sequence number; 0 in the first value written, whose revision is the sequence number.</summary>
    public long Seq { get; init; }

    public required string MessageId { get; init; }

    public string? SessionId { get; init; }

    public int Priority { get; init; }

    /// <summary>0 active, 2 deferred, 3 dead-lettered (as <see cref="QueueMessageState"/>; scheduled is active with a later visible time).</summary>
    public int State { get; init; }

    public long EnqueuedAt { get; init; }

    public long VisibleAt { get; init; }

    public long ExpiresAt { get; init; }

    public int DeliveryCount { get; init; }

    public string? LockToken { get; init; }

    public long LockedUntil { get; init; }

    public string? DeadLetterReason { get; init; }

    public string? DeadLetterDescription { get; init; }

    public string? Subject { get; init; }

    public string? ContentType { get; init; }

    public string? CorrelationId { get; init; }

    public string? ReplyTo { get; init; }

    public string? ReplyToSessionId { get; init; }

    public Dictionary<string, string>? Properties { get; init; }

    /// <summary>Whether a receiver holds it at <paramref name="now"/>.</summary>
    public bool IsLocked(long now) => LockToken is not null && LockedUntil > now;

    /// <summary>The value: length, header JSON, body.</summary>
    public byte[] Encode(ReadOnlySpan<byte> body)
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(this, RoutingJson.Options);
        var value = new byte[4 + header.Length + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(value, header.Length);
        header.CopyTo(value.AsSpan(4));
        body.CopyTo(value.AsSpan(4 + header.Length));
        return value;
    }

    /// <summary>Reads a value written by <see cref="Encode"/>; null when it is not one (it is skipped and logged).</summary>
    public static (MessageHeader Header, byte[] Body)? Decode(byte[]? value)
    {
        if (value is null || value.Length < 4)
        {
            return null;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(value);
        if (length < 2 || length > value.Length - 4)
        {
            return null;
        }

        try
        {
            var header = JsonSerializer.Deserialize<MessageHeader>(value.AsSpan(4, length), RoutingJson.Options);
            return header is null ? null : (header, value.AsSpan(4 + length).ToArray());
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A session's lock and state (key <c>l.&lt;session&gt;</c>).</summary>
internal sealed record SessionRecord
{
    public string? LockToken { get; init; }

    public long LockedUntil { get; init; }

    public byte[]? State { get; init; }

    public bool IsLocked(long now) => LockToken is not null && LockedUntil > now;

    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, RoutingJson.Options);

    public static SessionRecord? Decode(byte[]? value)
    {
        try
        {
            return value is null ? null : JsonSerializer.Deserialize<SessionRecord>(value, RoutingJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A message id seen by duplicate detection (key <c>d.&lt;message id&gt;</c>): the message key it was stored under and when.</summary>
internal sealed record DuplicateRecord(string Key, long SeenAt)
{
    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, RoutingJson.Options);

    public static DuplicateRecord? Decode(byte[]? value)
    {
        try
        {
            return value is null ? null : JsonSerializer.Deserialize<DuplicateRecord>(value, RoutingJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Names of buckets and keys: NATS allows <c>A-Z a-z 0-9 - _</c> in bucket names and also <c>. = /</c> in keys.</summary>
internal static class QueueKeys
{
    public const string MessagePrefix = "m.";
    public const string SessionPrefix = "l.";
    public const string DuplicatePrefix = "d.";

    /// <summary>The bucket of queue definitions.</summary>
    public static string DefinitionsBucket(string prefix) => prefix + "-queues";

    /// <summary>The bucket of <paramref name="queue"/>'s messages, sessions and message ids.</summary>
    public static string QueueBucket(string prefix, string queue) => prefix + "-queue-" + EscapeName(queue);

    /// <summary>A definition's key: the queue name, base64url (any name is a valid key).</summary>
    public static string DefinitionKey(string queue) => Encode(queue);

    public static string DecodeDefinitionKey(string key) => Decode(key);

    public static string SessionKey(string sessionId) => SessionPrefix + Encode(sessionId);

    public static string DuplicateKey(string messageId) => DuplicatePrefix + Encode(messageId);

    /// <summary>A lock token: the message key's id, a dot, and a random part, so any node finds the message by the token.</summary>
    public static string NewLockToken(string messageKey) => messageKey[MessagePrefix.Length..] + "." + Guid.NewGuid().ToString("N");

    /// <summary>The message key a lock token was issued for; null when it is not a token of this store.</summary>
    public static string? MessageKeyOf(string? lockToken)
    {
        if (lockToken is null)
        {
            return null;
        }

        var dot = lockToken.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && !lockToken.AsSpan(0, dot).ContainsAnyExcept(HexDigits) ? MessagePrefix + lockToken[..dot] : null;
    }

    public static string NewMessageKey() => MessagePrefix + Guid.NewGuid().ToString("N");

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    private static string Encode(string value) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Decode(string key)
    {
        var base64 = key.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - (base64.Length % 4)) % 4);
        return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
    }

    // Letters, digits and '-' stay; any other character becomes _XX per UTF-8 byte (queue names allow . _ : and $).
    private static string EscapeName(string name)
    {
        var builder = new StringBuilder(name.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b == (byte)'-')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('_').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }
}
