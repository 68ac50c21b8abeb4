using System.Text;

namespace Iot.Cli.Http;

/// <summary>Builds API paths: escaped path segments and a query of the parameters that have a value.</summary>
internal static class Query
{
    /// <summary>One path segment, escaped (<c>$commands</c>, ids with <c>:</c>).</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    /// <summary><paramref name="path"/> with <c>?name=value&amp;...</c> for each parameter whose value is not null.</summary>
    public static string With(string path, params (string Name, string? Value)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(parameters);
        var text = new StringBuilder(path);
        var separator = '?';
        foreach (var (name, value) in parameters)
        {
            if (value is not null)
            {
                text.Append(separator).Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
                separator = '&';
            }
        }

        return text.ToString();
    }
}
