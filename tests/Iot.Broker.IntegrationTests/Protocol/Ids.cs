namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>Unique client ids for the protocol tests (MQTT 5 and our broker allow ids longer than 23 characters).</summary>
internal static class Ids
{
    public static string Client(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 64)];
}
