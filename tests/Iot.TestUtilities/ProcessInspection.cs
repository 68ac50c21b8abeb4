using System.Globalization;
using System.Text.RegularExpressions;

namespace Iot.TestUtilities;

/// <summary>What tests read about a process from outside: its threads in /proc and samples of its /metrics text.</summary>
public static class ProcessInspection
{
    /// <summary>
    /// The threads of process <paramref name="pid"/> ("self" for this one) with their nice values (field 19 of
    /// /proc/.../stat); a thread that ends while they are listed is left out.
    /// </summary>
    public static List<(string Name, int Nice)> Threads(string pid = "self")
    {
        var threads = new List<(string, int)>();
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                threads.Add((name, int.Parse(fields[16], CultureInfo.InvariantCulture)));
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read.
            }
        }

        return threads;
    }

    /// <summary>The value of the sample named exactly <paramref name="name"/> (labels included) in Prometheus text; null when absent.</summary>
    public static double? Sample(string metrics, string name)
    {
        var match = Regex.Match(metrics, $"^{Regex.Escape(name)} (\\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }
}
