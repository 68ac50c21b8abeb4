namespace Iot.TestUtilities;

/// <summary>Unique client ids and topics, so that tests sharing one broker never see each other's messages.</summary>
public static class TestIds
{
    /// <summary>A client id of at most 23 characters (the length every MQTT 3.1.1 server must accept).</summary>
    /// <param name="prefix">Up to 6 characters that tell which test made it.</param>
    public static string ClientId(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length > 6)
        {
            throw new ArgumentException("Keep the prefix to 6 characters so that the id stays within 23.", nameof(prefix));
        }

        return $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
    }

    /// <summary>A topic <c>iot-test/{name}/{unique}</c>.</summary>
    public static string Topic(string name) => $"iot-test/{name}/{Guid.NewGuid():N}";
}
