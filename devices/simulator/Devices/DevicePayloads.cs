using System.Buffers;
using System.Text.Json;

namespace Iot.Simulator.Devices;

/// <summary>The JSON a device publishes: telemetry (numeric fields and <c>ts</c>, Unix ms) and events.</summary>
internal static class DevicePayloads
{
    /// <summary><c>{"ts":1767225600000,"temperature":21.5,...}</c>.</summary>
    public static byte[] Telemetry(IReadOnlyList<KeyValuePair<string, double>> fields, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return Write(writer =>
        {
            writer.WriteNumber("ts", timestamp.ToUnixTimeMilliseconds());
            foreach (var (name, value) in fields)
            {
                writer.WriteNumber(name, value);
            }
        });
    }

    /// <summary><c>{"ts":...,"type":"doorOpened",...fields}</c>.</summary>
    public static byte[] Event(DeviceEvent deviceEvent, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(deviceEvent);
        return Write(writer =>
        {
            writer.WriteNumber("ts", timestamp.ToUnixTimeMilliseconds());
            writer.WriteString("type", deviceEvent.Type);
            foreach (var (name, value) in deviceEvent.Fields)
            {
                switch (value)
                {
                    case double number:
                        writer.WriteNumber(name, number);
                        break;
                    case bool flag:
                        writer.WriteBoolean(name, flag);
                        break;
                    default:
                        writer.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                        break;
                }
            }
        });
    }

    /// <summary>Writes one JSON object.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
