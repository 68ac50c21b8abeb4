using System.Globalization;
using System.Text;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// How stream and group names become JetStream stream names, subjects and key-value keys. Names may hold
/// <c>. _ :</c> (<see cref="Iot.Messaging.ResourceNames"/>), which JetStream names, subject tokens or keys do not all
/// accept, so every character but a letter, digit or <c>-</c> is written <c>_XX</c> (its hex code): the result is a
/// valid stream-name part, subject token and key token, and two names never meet.
/// </summary>
internal static class JetStreamNames
{
    /// <summary>The escaped form of <paramref name="name"/>.</summary>
    public static string Escape(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!name.AsSpan().ContainsAnyExcept(SafeChars))
        {
            return name;
        }

        var builder = new StringBuilder(name.Length + 8);
        foreach (var c in name)
        {
            if (SafeChars.Contains(c))
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('_').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>The inverse of <see cref="Escape"/>; null when <paramref name="escaped"/> is not an escaped name.</summary>
    public static string? Unescape(string escaped)
    {
        ArgumentNullException.ThrowIfNull(escaped);
        var builder = new StringBuilder(escaped.Length);
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != '_')
            {
                builder.Append(escaped[i]);
                continue;
            }

            if (i + 2 >= escaped.Length
                || !int.TryParse(escaped.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                return null;
            }

            builder.Append((char)code);
            i += 2;
        }

        return builder.ToString();
    }

    /// <summary>The JetStream stream of one partition: <c>{prefix}{escaped name}-P{partition}</c>.</summary>
    public static string PartitionStream(string prefix, string stream, int partition) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{Escape(stream)}-P{partition}");

    /// <summary>The one subject of a partition's JetStream stream: <c>{prefix}.{escaped name}.{partition}</c>.</summary>
    public static string PartitionSubject(string prefix, string stream, int partition) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}.{Escape(stream)}.{partition}");

    private static readonly System.Buffers.SearchValues<char> SafeChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
}
