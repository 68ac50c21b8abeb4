using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iot.Broker.Cluster.Nodes;

/// <summary>What a node writes to <c>iot-nodes</c> under <c>node.{id}</c> at each heartbeat (JSON).</summary>
internal sealed record NodeRecord(
    string NodeId,
    string Incarnation,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    string? Version,
    string? Host,
    int? MqttPort,
    int? MqttTlsPort,
    int? HttpPort,
    long Connections)
{
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, NodesJsonContext.Default.NodeRecord);

    /// <summary>The record in <paramref name="json"/>; null when it is not one (a newer or broken writer: skipped, not fatal).</summary>
    public static NodeRecord? FromJson(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, NodesJsonContext.Default.NodeRecord) is { NodeId.Length: > 0, Incarnation.Length: > 0 } record ? record : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public ClusterNode ToNode(bool alive, bool self) =>
        new(NodeId, Incarnation, alive, self, StartedAt, HeartbeatAt, Version, Host, MqttPort, MqttTlsPort, HttpPort, Connections);
}

/// <summary>Who won the claim on a dead incarnation (<c>claim.{node}.{incarnation}</c>).</summary>
internal sealed record NodeClaim(string ClaimedBy, string ClaimerIncarnation, DateTimeOffset ClaimedAt)
{
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, NodesJsonContext.Default.NodeClaim);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(NodeClaim))]
internal sealed partial class NodesJsonContext : JsonSerializerContext;
