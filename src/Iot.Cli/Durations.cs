using System.Globalization;

namespace Iot.Cli;

/// <summary>
/// Durations on the command line as operators write them: <c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>7d</c>, a
/// bare number of seconds (<c>30</c>, <c>0.5</c>), or .NET's <c>[d.]hh:mm:ss</c> (<c>00:01:00</c>) as the API shows them.
/// </summary>
internal static class Durations
{
    /// <summary>Parses <paramref name="text"/>; false (and a message naming the forms) when it is none of them or negative.</summary>
    public static bool TryParse(string text, out TimeSpan value, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = default;
        error = null;
        var trimmed = text.Trim();
        if (trimmed.Contains(':', StringComparison.Ordinal))
        {
            if (TimeSpan.TryParse(trimmed, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero)
            {
                return true;
            }
        }
        else
        {
            var (number, unit) = Split(trimmed);
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0 && double.IsFinite(amount))
            {
                double? seconds = unit switch
                {
                    "ms" => amount / 1000,
                    "" or "s" => amount,
                    "m" => amount * 60,
                    "h" => amount * 3600,
                    "d" => amount * 86400,
                    _ => null,
                };
                if (seconds is { } s && s <= TimeSpan.MaxValue.TotalSeconds)
                {
                    value = TimeSpan.FromSeconds(s);
                    return true;
                }
            }
        }

        error = $"'{text}' is not a duration: use 250ms, 30s, 5m, 2h, 7d, a number of seconds or hh:mm:ss.";
        return false;
    }

    /// <summary>The API's form of a duration (<c>[d.]hh:mm:ss[.fffffff]</c>, .NET's constant format).</summary>
    public static string ToApi(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    /// <summary>Seconds as the API's query parameters take them (<c>ttl</c>, <c>wait</c>, <c>maxWaitTime</c>).</summary>
    public static string ToSeconds(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static (string Number, string Unit) Split(string text)
    {
        var end = text.Length;
        while (end > 0 && char.IsAsciiLetter(text[end - 1]))
        {
            end--;
        }

        return (text[..end], text[end..].ToLowerInvariant());
    }
}
