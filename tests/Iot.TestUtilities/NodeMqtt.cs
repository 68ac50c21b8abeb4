using System.Text.Json;

namespace Iot.TestUtilities;

/// <summary>
/// Runs small MQTT.js scripts with node, with <c>require('mqtt')</c> resolved from <c>tests/tools/node</c>
/// (installed there by <c>npm ci</c>; scripts/test.sh does it). A missing node or MQTT.js fails the test, never skips it.
/// </summary>
public static class NodeMqtt
{
    /// <summary>How long a script may run before it is killed.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="script"/> (CommonJS) with the given environment variables and returns how it ended.</summary>
    public static async Task<ProcessResult> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(environment);
        var node = ExternalClients.RequireTool("node", "nodejs");
        var modules = Path.Combine(RepositoryPaths.NodeTools, "node_modules");
        if (!File.Exists(Path.Combine(modules, "mqtt", "package.json")))
        {
            throw new InvalidOperationException(
                $"MQTT.js is not installed in {modules}. Run scripts/test.sh, which installs the test tools " +
                $"(it runs `npm ci` in {RepositoryPaths.NodeTools}).");
        }

        using var dir = new TempDirectory("iot-node");
        var file = dir.Combine("script.js");
        await File.WriteAllTextAsync(file, script);
        var env = environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        env["NODE_PATH"] = modules;
        return await ChildProcess.RunAsync(node, [file], timeout ?? DefaultTimeout, RepositoryPaths.NodeTools, env);
    }

    /// <summary>Runs <paramref name="script"/>, requires exit code 0, and parses the last line it printed as JSON.</summary>
    /// <exception cref="InvalidOperationException">The script failed or printed no JSON; the message holds its output.</exception>
    public static async Task<JsonElement> RunForJsonAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan? timeout = null)
    {
        var result = (await RunAsync(script, environment, timeout)).EnsureSuccess();
        var lines = result.OutputLines;
        try
        {
            using var json = JsonDocument.Parse(lines.Count > 0 ? lines[^1] : "");
            return json.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The script printed no JSON on its last line: {result}", ex);
        }
    }
}
