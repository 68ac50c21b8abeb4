using System.Globalization;

namespace Iot.LoadTool;

/// <summary>The <c>--name value</c> pairs after a scenario name, with typed defaults.</summary>
internal sealed class ScenarioArguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public ScenarioArguments(string[] args)
    {
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            _values[args[i].TrimStart('-')] = args[i + 1];
        }
    }

    public string Text(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public int? OptionalInt(string name) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : null;
}
