using System.Text;

namespace Iot.Cli.Output;

/// <summary>
/// Rows in aligned columns for people, as <c>kubectl get</c> and <c>nats stream ls</c> print them: an upper-case header,
/// each column as wide as its widest cell, two spaces between columns, no trailing spaces.
/// </summary>
internal sealed class Table
{
    private const int MaxCell = 80;
    private readonly string[] _headers;
    private readonly List<string[]> _rows = [];

    /// <summary>A table with these column headers (printed in upper case).</summary>
    public Table(params string[] headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        _headers = headers.Select(h => h.ToUpperInvariant()).ToArray();
    }

    /// <summary>The number of rows added.</summary>
    public int Count => _rows.Count;

    /// <summary>Adds a row; missing cells are empty, null cells print as <c>-</c>, long cells are cut at 80 characters.</summary>
    public void Add(params string?[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        var row = new string[_headers.Length];
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = i < cells.Length ? Clean(cells[i] ?? "-") : "";
        }

        _rows.Add(row);
    }

    /// <summary>Writes the header and the rows.</summary>
    public void Write(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var widths = new int[_headers.Length];
        foreach (var row in _rows.Prepend(_headers))
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var line = new StringBuilder();
        foreach (var row in _rows.Prepend(_headers))
        {
            line.Clear();
            for (var i = 0; i < row.Length; i++)
            {
                line.Append(row[i]);
                if (i < row.Length - 1)
                {
                    line.Append(' ', widths[i] - row[i].Length + 2);
                }
            }

            writer.WriteLine(line.ToString().TrimEnd());
        }
    }

    /// <summary>
    /// Writes name-value pairs of one resource with the values aligned (<c>kubectl describe</c> style), skipping
    /// null values.
    /// </summary>
    public static void WriteProperties(TextWriter writer, IEnumerable<(string Name, string? Value)> properties)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(properties);
        var shown = properties.Where(p => p.Value is not null).ToList();
        var width = shown.Count == 0 ? 0 : shown.Max(p => p.Name.Length) + 1;
        foreach (var (name, value) in shown)
        {
            writer.WriteLine($"{(name + ":").PadRight(width)}  {Clean(value!, int.MaxValue)}");
        }
    }

    // A cell stays on its line: control characters (a payload's newlines) become spaces.
    private static string Clean(string cell, int max = MaxCell)
    {
        var text = cell.Any(char.IsControl) ? new string(cell.Select(c => char.IsControl(c) ? ' ' : c).ToArray()) : cell;
        return text.Length <= max ? text : string.Concat(text.AsSpan(0, max - 3), "...");
    }
}
