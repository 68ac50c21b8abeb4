using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Iot.Messaging;

/// <summary>
/// Makes a value that came from a client (a client id, username, topic, protocol name, an exception message that
/// quotes a client's bytes, an HTTP value) safe to log: control characters (C0, DEL, C1), line and paragraph
/// separators and invisible format characters (bidi overrides such as U+202E, zero-width characters, BOM) are written
/// as escapes (<c>\r</c>, <c>\n</c>, <c>\x1b</c>, <c>\u202e</c>), a backslash as <c>\\</c>, and a long value is cut.
/// A log line can then neither be split into a forged line nor rewritten on a terminal.
/// </summary>
public static class LogSafe
{
    /// <summary>Characters kept of one value; the rest is replaced by a count.</summary>
    public const int MaxLength = 512;

    /// <summary>The value as it may be logged; the same instance (no allocation) when nothing needs escaping.</summary>
    [return: NotNullIfNotNull(nameof(value))]
    public static string? Escape(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var first = IndexOfUnsafe(value);
        if (first < 0 && value.Length <= MaxLength)
        {
            return value;
        }

        var kept = Math.Min(value.Length, MaxLength);
        var text = new StringBuilder(kept + 16);
        text.Append(value, 0, first < 0 ? kept : Math.Min(first, kept));
        for (var i = first < 0 ? kept : first; i < kept; i++)
        {
            var c = value[i];
            if (!NeedsEscape(c))
            {
                text.Append(c);
                continue;
            }

            _ = c switch
            {
                '\r' => text.Append("\\r"),
                '\n' => text.Append("\\n"),
                '\t' => text.Append("\\t"),
                '\\' => text.Append("\\\\"),
                <= '\u00ff' => text.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                _ => text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
            };
        }

        if (value.Length > kept)
        {
            text.Append(CultureInfo.InvariantCulture, $"...(+{value.Length - kept} chars)");
        }

        return text.ToString();
    }

    /// <summary>True when <paramref name="c"/> is written as an escape.</summary>
    public static bool NeedsEscape(char c) =>
        c < ' ' || c == '\\' || (c >= '\u007f' && c <= '\u009f')
        || (c > '\u00ff' && char.GetUnicodeCategory(c) is UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Control)
        || c == '\u00ad';

    private static int IndexOfUnsafe(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (NeedsEscape(value[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
