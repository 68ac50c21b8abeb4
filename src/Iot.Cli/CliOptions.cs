using System.CommandLine;
using System.CommandLine.Parsing;

namespace Iot.Cli;

/// <summary>Options and arguments that parse the way every command parses them (durations, bounded numbers).</summary>
internal static class CliOptions
{
    /// <summary>A duration option (<see cref="Durations"/>) with a default.</summary>
    public static Option<TimeSpan> Duration(string name, string description, TimeSpan defaultValue, bool recursive = false) => new(name)
    {
        Description = description,
        HelpName = "duration",
        Recursive = recursive,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = ParseDuration,
    };

    /// <summary>An optional duration option: null when not given.</summary>
    public static Option<TimeSpan?> OptionalDuration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = r => ParseDuration(r),
    };

    /// <summary>An optional whole number in <paramref name="min"/>..<paramref name="max"/>.</summary>
    public static Option<int?> Number(string name, string description, int min, int max) => new(name)
    {
        Description = $"{description} ({min}-{max}).",
        HelpName = "n",
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<int?>() is { } v && (v < min || v > max))
                {
                    r.AddError($"{name} must be between {min} and {max}.");
                }
            },
        },
    };

    /// <summary>A required text argument.</summary>
    public static Argument<string> Text(string name, string description) => new(name) { Description = description };

    private static TimeSpan ParseDuration(ArgumentResult result)
    {
        if (Durations.TryParse(result.Tokens.Single().Value, out var value, out var error))
        {
            return value;
        }

        result.AddError(error!);
        return default;
    }
}
