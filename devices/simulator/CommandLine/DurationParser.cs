using System.Globalization;

namespace Iot.Simulator.CommandLine;

/// <summary>
/// Durations on the command line: a number with a unit (<c>250ms</c>, <c>1.5s</c>, <c>5m</c>, <c>2h</c>), a
/// <see cref="TimeSpan"/> (<c>00:01:30</c>), or a bare number in the option's default unit.
/// </summary>
internal static class DurationParser
{
    private static readonly (string Suffix, double Milliseconds)[] Units =
    [
        ("ms", 1),
        ("s", 1000),
        ("m", 60_000),
        ("min", 60_000),
        ("h", 3_600_000),
    ];

    /// <summary>Parses <paramref name="text"/>; a bare number counts in <paramref name="bareUnit"/>.</summary>
    public static bool TryParse(string? text, TimeSpan bareUnit, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        if (trimmed.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(trimmed, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
        }

        // Longest suffix first, so that "ms" is not read as "m" and "min" not as "m".
        foreach (var (suffix, milliseconds) in Units.OrderByDescending(u => u.Suffix.Length))
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return TryNumber(trimmed[..^suffix.Length], milliseconds, out value);
            }
        }

        return TryNumber(trimmed, bareUnit.TotalMilliseconds, out value);
    }

    /// <summary>A compact form for messages: <c>250ms</c>, <c>1.5s</c>, <c>5m</c>.</summary>
    public static string Format(TimeSpan value) => value.TotalMilliseconds switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds:0.#}ms"),
        < 60_000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.#}s"),
        < 3_600_000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMinutes:0.#}m"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value.TotalHours:0.#}h"),
    };

    private static bool TryNumber(string number, double unitMilliseconds, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (!double.TryParse(number.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount)
            || double.IsInfinity(amount * unitMilliseconds) || amount * unitMilliseconds > TimeSpan.MaxValue.TotalMilliseconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(amount * unitMilliseconds);
        return true;
    }
}
