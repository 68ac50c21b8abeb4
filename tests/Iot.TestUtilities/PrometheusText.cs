using System.Globalization;
using System.Text;

namespace Iot.TestUtilities;

/// <summary>One sample line: its name (a histogram's <c>_bucket</c>, <c>_sum</c> or <c>_count</c> included), labels and value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>The labels as <c>{a="1",b="2"}</c> in name order (empty when none), to tell series apart.</summary>
    public string LabelKey(string? without = null) =>
        string.Join(',', Labels.Where(l => l.Key != without).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\""));
}

/// <summary>A metric family: the name of its <c># TYPE</c> line, its type and help, and its samples in order.</summary>
public sealed class PrometheusFamily(string name)
{
    /// <summary>The family name (a histogram's samples add <c>_bucket</c>, <c>_sum</c>, <c>_count</c>).</summary>
    public string Name { get; } = name;

    /// <summary><c>counter</c>, <c>gauge</c>, <c>histogram</c>, <c>summary</c> or <c>untyped</c>.</summary>
    public string Type { get; internal set; } = "untyped";

    /// <summary>The <c># HELP</c> text; null when the family has none.</summary>
    public string? Help { get; internal set; }

    /// <summary>The samples, in the order they came.</summary>
    public List<PrometheusSample> Samples { get; } = [];

    /// <summary>A histogram's observations over all its series (the sum of its <c>_count</c> samples).</summary>
    public double Count => Samples.Where(s => s.Name == Name + "_count").Sum(s => s.Value);
}

/// <summary>
/// A strict reader of the Prometheus text exposition format (version 0.0.4), as Prometheus reads a scrape: families with
/// one <c># TYPE</c> and <c># HELP</c> each before their samples and never split, valid metric and label names, escaped label
/// values, float values (<c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>), no series twice, counters not negative, and every histogram
/// consistent: per series, cumulative buckets that never decrease with <c>le</c>, a <c>+Inf</c> bucket equal to
/// <c>_count</c>, and a <c>_sum</c>. Anything else throws a <see cref="FormatException"/> naming the line.
/// </summary>
public static class PrometheusText
{
    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    /// <summary>Parses and checks <paramref name="text"/>; the families by name.</summary>
    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var families = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        PrometheusFamily? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var number = i + 1;
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && (parts[1] == "TYPE" || parts[1] == "HELP"))
                {
                    var name = parts[2];
                    CheckMetricName(name, number);
                    if (current?.Name != name)
                    {
                        if (families.ContainsKey(name))
                        {
                            throw new FormatException($"line {number}: {parts[1]} of {name}, whose family was already closed (families must not be split)");
                        }

                        current = families[name] = new PrometheusFamily(name);
                    }

                    if (current.Samples.Count != 0)
                    {
                        throw new FormatException($"line {number}: {parts[1]} of {name} after its samples");
                    }

                    if (parts[1] == "TYPE")
                    {
                        var type = parts.Length == 4 ? parts[3] : "";
                        if (!Types.Contains(type))
                        {
                            throw new FormatException($"line {number}: unknown type '{type}'");
                        }

                        current.Type = type;
                    }
                    else
                    {
                        current.Help = current.Help is null ? (parts.Length == 4 ? parts[3] : "") : throw new FormatException($"line {number}: second HELP of {name}");
                    }
                }

                continue;
            }

            var sample = ParseSample(line, number);
            var family = FamilyOf(sample.Name, current) ?? OpenUntyped(sample.Name, families, number);
            if (!ReferenceEquals(family, current))
            {
                current = family;
            }

            if (family.Type == "counter" && sample.Value < 0)
            {
                throw new FormatException($"line {number}: counter {sample.Name} is negative");
            }

            if (!series.Add(sample.Name + "{" + sample.LabelKey() + "}"))
            {
                throw new FormatException($"line {number}: series {sample.Name}{{{sample.LabelKey()}}} appears twice");
            }

            family.Samples.Add(sample);
        }

        foreach (var family in families.Values.Where(f => f.Type == "histogram"))
        {
            CheckHistogram(family);
        }

        return families;
    }

    /// <summary>The family a sample belongs to: the current one when its name is the family's or a suffix of a histogram's.</summary>
    private static PrometheusFamily? FamilyOf(string sample, PrometheusFamily? current)
    {
        if (current is null)
        {
            return null;
        }

        if (sample == current.Name && current.Type != "histogram")
        {
            return current;
        }

        return current.Type == "histogram" && (sample == current.Name + "_bucket" || sample == current.Name + "_sum" || sample == current.Name + "_count")
            ? current
            : null;
    }

    private static PrometheusFamily OpenUntyped(string name, Dictionary<string, PrometheusFamily> families, int number)
    {
        if (families.ContainsKey(name))
        {
            throw new FormatException($"line {number}: sample of {name}, whose family was already closed (families must not be split)");
        }

        return families[name] = new PrometheusFamily(name);
    }

    private static void CheckHistogram(PrometheusFamily family)
    {
        foreach (var group in family.Samples.GroupBy(s => s.LabelKey(without: "le")))
        {
            var buckets = group.Where(s => s.Name == family.Name + "_bucket").ToList();
            if (buckets.Any(b => !b.Labels.ContainsKey("le")))
            {
                throw new FormatException($"{family.Name}{{{group.Key}}}: a bucket without le");
            }

            var ordered = buckets.Select(b => (Le: ParseValue(b.Labels["le"], 0), b.Value)).OrderBy(b => b.Le).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                if (ordered[i].Value < ordered[i - 1].Value)
                {
                    throw new FormatException($"{family.Name}{{{group.Key}}}: bucket le={ordered[i].Le} holds less than le={ordered[i - 1].Le}");
                }
            }

            if (ordered.Count == 0 || !double.IsPositiveInfinity(ordered[^1].Le))
            {
                throw new FormatException($"{family.Name}{{{group.Key}}}: no le=\"+Inf\" bucket");
            }

            var count = group.SingleOrDefault(s => s.Name == family.Name + "_count") ?? throw new FormatException($"{family.Name}{{{group.Key}}}: no _count");
            if (count.Value != ordered[^1].Value)
            {
                throw new FormatException($"{family.Name}{{{group.Key}}}: _count {count.Value} is not the +Inf bucket's {ordered[^1].Value}");
            }

            _ = group.SingleOrDefault(s => s.Name == family.Name + "_sum") ?? throw new FormatException($"{family.Name}{{{group.Key}}}: no _sum");
        }
    }

    private static PrometheusSample ParseSample(string line, int number)
    {
        var at = 0;
        while (at < line.Length && line[at] != '{' && line[at] != ' ')
        {
            at++;
        }

        var name = line[..at];
        CheckMetricName(name, number);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (at < line.Length && line[at] == '{')
        {
            at++;
            while (line[at] != '}')
            {
                var equals = line.IndexOf('=', at);
                if (equals < 0 || line[equals + 1] != '"')
                {
                    throw new FormatException($"line {number}: malformed labels: {line}");
                }

                var label = line[at..equals];
                if (label.Length == 0 || !IsName(label, colon: false) || label.StartsWith("__", StringComparison.Ordinal))
                {
                    throw new FormatException($"line {number}: invalid label name '{label}'");
                }

                var value = new StringBuilder();
                at = equals + 2;
                for (; line[at] != '"'; at++)
                {
                    if (line[at] == '\\')
                    {
                        at++;
                        value.Append(line[at] switch
                        {
                            'n' => '\n',
                            '\\' => '\\',
                            '"' => '"',
                            _ => throw new FormatException($"line {number}: invalid escape \\{line[at]}"),
                        });
                    }
                    else
                    {
                        value.Append(line[at]);
                    }
                }

                if (!labels.TryAdd(label, value.ToString()))
                {
                    throw new FormatException($"line {number}: label {label} twice");
                }

                at++;
                if (line[at] == ',')
                {
                    at++;
                }
                else if (line[at] != '}')
                {
                    throw new FormatException($"line {number}: malformed labels: {line}");
                }
            }

            at++;
        }

        var rest = line[at..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2 || (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
        {
            throw new FormatException($"line {number}: expected a value and an optional timestamp: {line}");
        }

        return new PrometheusSample(name, labels, ParseValue(rest[0], number));
    }

    private static double ParseValue(string text, int number) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"line {number}: '{text}' is not a number"),
    };

    private static void CheckMetricName(string name, int number)
    {
        if (name.Length == 0 || !IsName(name, colon: true))
        {
            throw new FormatException($"line {number}: invalid metric name '{name}'");
        }
    }

    private static bool IsName(string name, bool colon) =>
        !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || (colon && c == ':'));
}
