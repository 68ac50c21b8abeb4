using System.Globalization;
using System.Text;
using System.Text.Json;
using Iot.Streams.Aggregation;
using Iot.Streams.Log;

namespace Iot.Streams.Sinks.Influx;

/// <summary>
/// Turns stream records into InfluxDB line protocol (millisecond precision). A record's JSON object becomes one point:
/// tag <c>key</c> (the record key, the device id for telemetry) and, for aggregates, tag <c>window</c>; every number
/// becomes a float field (always float, so a field never changes type), booleans boolean fields, and numbers one
/// level down become <c>{parent}_{child}</c> fields (an aggregate's <c>fields.temperature.avg</c> is
/// <c>temperature_avg</c>). The time is the payload's <c>end</c> (aggregates), else <c>ts</c>, else the arrival time.
/// </summary>
internal static class LineProtocol
{
    /// <summary>Appends the record's point and a newline; false (nothing appended) when it has no field.</summary>
    public static bool TryAppend(StringBuilder builder, string measurement, StreamRecord record)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(record.Payload);
        }
        catch (JsonException)
        {
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            var start = builder.Length;
            Escape(builder, measurement, measurement: true);
            if (record.Key is { Length: > 0 } key)
            {
                builder.Append(",key=");
                Escape(builder, key);
            }

            if (root.TryGetProperty("window", out var window) && window.ValueKind == JsonValueKind.String && window.GetString() is { Length: > 0 } name)
            {
                builder.Append(",window=");
                Escape(builder, name);
            }

            builder.Append(' ');
            var fields = 0;
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals("ts"))
                {
                    continue;
                }

                if (property.Value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var child in property.Value.EnumerateObject())
                    {
                        if (child.Value.ValueKind == JsonValueKind.Object)
                        {
                            foreach (var leaf in child.Value.EnumerateObject())
                            {
                                fields += AppendField(builder, fields, $"{child.Name}_{leaf.Name}", leaf.Value);
                            }
                        }
                        else
                        {
                            fields += AppendField(builder, fields, $"{property.Name}_{child.Name}", child.Value);
                        }
                    }
                }
                else
                {
                    fields += AppendField(builder, fields, property.Name, property.Value);
                }
            }

            if (fields == 0)
            {
                builder.Length = start;
                return false;
            }

            builder.Append(' ').Append(TimeOf(root, record).ToString(CultureInfo.InvariantCulture)).Append('\n');
            return true;
        }
    }

    private static long TimeOf(JsonElement root, StreamRecord record)
    {
        if (root.TryGetProperty("end", out var end) && RecordParser.TryReadTime(end, out var endMs))
        {
            return endMs;
        }

        return root.TryGetProperty("ts", out var ts) && RecordParser.TryReadTime(ts, out var tsMs) ? tsMs : record.Timestamp.ToUnixTimeMilliseconds();
    }

    private static int AppendField(StringBuilder builder, int written, string name, JsonElement value)
    {
        string text;
        switch (value.ValueKind)
        {
            case JsonValueKind.Number when value.TryGetDouble(out var number) && double.IsFinite(number):
                text = number.ToString("R", CultureInfo.InvariantCulture);
                break;
            case JsonValueKind.True:
                text = "true";
                break;
            case JsonValueKind.False:
                text = "false";
                break;
            default:
                return 0;
        }

        if (written > 0)
        {
            builder.Append(',');
        }

        Escape(builder, name);
        builder.Append('=').Append(text);
        return 1;
    }

    /// <summary>Escapes commas, spaces (and for tags and field keys equals signs) as line protocol requires.</summary>
    private static void Escape(StringBuilder builder, string value, bool measurement = false)
    {
        foreach (var c in value)
        {
            if (c is ',' or ' ' || (!measurement && c == '='))
            {
                builder.Append('\\');
            }

            builder.Append(c is '\n' or '\r' ? ' ' : c);
        }
    }
}
