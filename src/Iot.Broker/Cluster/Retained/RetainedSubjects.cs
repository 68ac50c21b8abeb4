using System.Text;

namespace Iot.Broker.Cluster.Retained;

/// <summary>The subject of a retained topic: the prefix, then each topic level escaped so that the mapping is one-to-one.</summary>
internal static class RetainedSubjects
{
    public static string For(string prefix, string topic)
    {
        var builder = new StringBuilder(prefix.Length + topic.Length + 8).Append(prefix);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var level in topic.Split('/'))
        {
            builder.Append('.');
            if (level.Length == 0)
            {
                builder.Append('%');
                continue;
            }

            foreach (var rune in level.EnumerateRunes())
            {
                if (rune.IsAscii && (char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '-' or '_' or '$' or '+' or '#'))
                {
                    builder.Append((char)rune.Value);
                    continue;
                }

                var length = rune.EncodeToUtf8(utf8);
                for (var i = 0; i < length; i++)
                {
                    builder.Append('%').Append(utf8[i].ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        return builder.ToString();
    }
}
