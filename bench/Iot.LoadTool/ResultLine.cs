using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Iot.LoadTool;

/// <summary>The one line of <c>key=value</c> pairs a scenario prints for scripts (invariant culture, NA for unknown).</summary>
internal sealed class ResultLine
{
    private readonly StringBuilder _text = new();

    public ResultLine(string scenario) => Add("scenario", scenario);

    public ResultLine Add(string key, string value)
    {
        if (_text.Length > 0)
        {
            _text.Append(' ');
        }

        _text.Append(key).Append('=').Append(value);
        return this;
    }

    public ResultLine Add(string key, long value) => Add(key, value.ToString(CultureInfo.InvariantCulture));

    public ResultLine Add(string key, double? value, string format = "F1") =>
        Add(key, value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "NA");

    /// <summary>Tool CPU % (100 = one core), broker CPU % and broker CPU µs per message over a measured interval.</summary>
    public ResultLine AddCpu(CpuSample start, CpuSample end, long messages)
    {
        var seconds = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
        var broker = end.BrokerCpuSeconds - start.BrokerCpuSeconds;
        Add("tool_cpu_pct", 100 * (end.ToolCpu - start.ToolCpu).TotalSeconds / seconds);
        Add("broker_cpu_pct", 100 * broker / seconds);
        return Add("broker_us_per_msg", messages > 0 ? broker * 1e6 / messages : null, "F3");
    }

    public override string ToString() => _text.ToString();
}
