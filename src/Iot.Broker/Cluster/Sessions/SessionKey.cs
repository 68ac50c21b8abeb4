using System.Text;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// A client id as one NATS subject token and key-value key: ASCII letters, digits, <c>-</c> and <c>_</c> are kept,
/// every other UTF-8 byte becomes <c>=XX</c> (upper-case hex). The mapping is one-to-one, so two client ids never
/// share a key, and the result is valid both as a KV key (<c>[-/_=.a-zA-Z0-9]+</c>) and as a subject token (no
/// <c>.</c>, <c>*</c>, <c>&gt;</c> or whitespace).
/// </summary>
internal static class SessionKey
{
    public static string Escape(string clientId)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        var plain = true;
        foreach (var c in clientId)
        {
            if (!IsKept(c))
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return clientId;
        }

        var builder = new StringBuilder(clientId.Length * 2);
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < clientId.Length; i++)
        {
            var c = clientId[i];
            if (IsKept(c))
            {
                builder.Append(c);
                continue;
            }

            var length = char.IsHighSurrogate(c) && i + 1 < clientId.Length
                ? Encoding.UTF8.GetBytes(clientId.AsSpan(i++, 2), bytes)
                : Encoding.UTF8.GetBytes(clientId.AsSpan(i, 1), bytes);
            foreach (var b in bytes[..length])
            {
                builder.Append('=').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    public static string Unescape(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!key.Contains('=', StringComparison.Ordinal))
        {
            return key;
        }

        var bytes = new List<byte>(key.Length);
        for (var i = 0; i < key.Length; i++)
        {
            if (key[i] == '=' && i + 2 < key.Length)
            {
                bytes.Add(Convert.ToByte(key.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.Add((byte)key[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The subject of the session's queue in the session stream.</summary>
    public static string QueueSubject(string key) => SessionStreams.QueueSubjectPrefix + key;

    /// <summary>The subject a node answers takeover requests for the session on.</summary>
    public static string TakeoverSubject(string key) => SessionStreams.TakeoverSubjectPrefix + key;

    private static bool IsKept(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_';
}
