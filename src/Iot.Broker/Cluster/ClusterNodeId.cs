using System.Security.Cryptography;

namespace Iot.Broker.Cluster;

/// <summary>This node's id: the configured one, or one generated once and kept in <c>{DataDir}/node-id</c>.</summary>
internal static class ClusterNodeId
{
    public static string Resolve(string? configured, string dataDir)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var path = Path.Combine(Path.GetFullPath(dataDir), "node-id");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } kept)
        {
            return kept;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var generated = "n-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        File.WriteAllText(path, generated);
        return generated;
    }
}
