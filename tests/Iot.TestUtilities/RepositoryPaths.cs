using System.Reflection;

namespace Iot.TestUtilities;

/// <summary>Where things are in the repository, found from the running test assembly.</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root: the nearest folder above the test output that holds <c>Iot.sln</c>.</summary>
    public static string Root => LazyRoot.Value;

    /// <summary>The build configuration of the calling tests (<c>Debug</c> or <c>Release</c>), read from the assembly.</summary>
    public static string Configuration { get; } =
        typeof(RepositoryPaths).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } c ? c : "Debug";

    /// <summary><c>src/Iot.Broker/bin/{Configuration}/net10.0/Iot.Broker.dll</c>.</summary>
    public static string BrokerDll => Path.Combine(Root, "src", "Iot.Broker", "bin", Configuration, "net10.0", "Iot.Broker.dll");

    /// <summary><c>tests/tools/node</c>: MQTT.js and friends, installed by <c>npm ci</c> (scripts/test.sh does it).</summary>
    public static string NodeTools => Path.Combine(Root, "tests", "tools", "node");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Iot.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Iot.sln found above {AppContext.BaseDirectory}; run the tests from the repository.");
    }
}
