using System.Globalization;

namespace Iot.Cli.Metrics;

/// <summary>
/// Reads the Prometheus text exposition format 0.0.4 that <c>/metrics</c> serves: one sample per line,
/// <c>name{label="value",...} value [timestamp]</c>; <c>#</c> lines (HELP, TYPE) and blank lines are skipped. Written
/// here because no package on the approved list parses it (the Prometheus packages there only export).
/// </summary>
internal static class PrometheusText
{
    /// <summary>The samples of <paramref name="text"/>, in order; lines that do not parse are skipped.</summary>
    public static IReadOnlyList<Sample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            int nameEnd = line.IndexOfAny(['{', ' ']);
            if (nameEnd <= 0)
            {
                continue;
            }

            var name = line[..nameEnd];
            var rest = line[nameEnd..];
            if (rest[0] == '{')
            {
                var close = ReadLabels(rest, labels);
                if (close < 0)
                {
                    continue;
                }

                rest = rest[(close + 1)..];
            }

            var value = rest.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (value is not null && TryParseValue(value, out var number))
            {
                samples.Add(new Sample(name, labels, number));
            }
        }

        return samples;
    }

    // Reads {a="x",b="y\"z"} from the start of text into labels; returns the index of the closing brace, or -1.
    private static int ReadLabels(string text, Dictionary<string, string> labels)
    {
        var i = 1;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || text[i] == ' '))
            {
                i++;
            }

            if (i < text.Length && text[i] == '}')
            {
                return i;
            }

            var eq = text.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= text.Length || text[eq + 1] != '"')
            {
                return -1;
            }

            var key = text[i..eq].Trim();
            var value = new System.Text.StringBuilder();
            i = eq + 2;
            while (i < text.Length && text[i] != '"')
            {
                if (text[i] == '\\' && i + 1 < text.Length)
                {
                    i++;
                    value.Append(text[i] == 'n' ? '\n' : text[i]);
                }
                else
                {
                    value.Append(text[i]);
                }

                i++;
            }

            if (i >= text.Length)
            {
                return -1;
            }

            labels[key] = value.ToString();
            i++;
        }

        return -1;
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    /// <summary>One sample: metric name, labels, value.</summary>
    internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
    {
        /// <summary><c>name</c> or <c>name{a="x",b="y"}</c>, as a key scripts can look up.</summary>
        public string Key => Labels.Count == 0 ? Name : $"{Name}{{{string.Join(',', Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}}";
    }
}
