using System.Globalization;
using System.Text;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// Names in key-value keys: a route or subscription name may hold <c>.</c> and <c>:</c>, which a key token may not, so
/// every character outside <c>A-Z a-z 0-9 -</c> is written as <c>_</c> and two hex digits (<c>a.b</c> is <c>a_2Eb</c>).
/// The mapping is one to one, so a key names exactly one resource.
/// </summary>
internal static class KeyNames
{
    /// <summary>The key token of <paramref name="name"/>.</summary>
    public static string Escape(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!NeedsEscape(name))
        {
            return name;
        }

        var builder = new StringBuilder(name.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            if (IsPlain((char)b))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('_').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>The name a key token stands for; null when the token is not one <see cref="Escape"/> writes.</summary>
    public static string? Unescape(string token)
    {
        if (token.Length == 0)
        {
            return null;
        }

        if (!token.Contains('_', StringComparison.Ordinal))
        {
            return NeedsEscape(token) ? null : token;
        }

        var bytes = new List<byte>(token.Length);
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            if (c == '_')
            {
                if (token.Length - i - 1 < 2
                    || !byte.TryParse(token.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return null;
                }

                bytes.Add(b);
                i += 2;
            }
            else if (IsPlain(c))
            {
                bytes.Add((byte)c);
            }
            else
            {
                return null;
            }
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }

    private static bool NeedsEscape(string name)
    {
        foreach (char c in name)
        {
            if (!IsPlain(c))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsPlain(char c) => char.IsAsciiLetterOrDigit(c) || c == '-';
}
