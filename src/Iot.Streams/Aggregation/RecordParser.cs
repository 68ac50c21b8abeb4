using System.Globalization;
using System.Text.Json;
using Iot.Streams.Log;

namespace Iot.Streams.Aggregation;

/// <summary>Turns a stream record into a <see cref="WindowInput"/>: key, event time and field values from its JSON payload.</summary>
internal static class RecordParser
{
    /// <summary>False when the payload is not a JSON object.</summary>
    public static bool TryParse(WindowDefinition definition, StreamRecord record, out WindowInput input)
    {
        input = default;
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

            var key = record.Key;
            if (definition.KeyField is { } keyField && root.TryGetProperty(keyField, out var keyElement))
            {
                key = keyElement.ValueKind == JsonValueKind.String ? keyElement.GetString() : keyElement.GetRawText();
            }

            var time = record.Timestamp.ToUnixTimeMilliseconds();
            if (definition.EventTime == EventTimeSource.Payload && root.TryGetProperty(definition.TimestampField, out var ts)
                && TryReadTime(ts, out var eventTime))
            {
                time = eventTime;
            }

            var values = new double[definition.Fields.Count];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = root.TryGetProperty(definition.Fields[i], out var value) && value.ValueKind == JsonValueKind.Number
                    && value.TryGetDouble(out var number) ? number : double.NaN;
            }

            input = new WindowInput(key ?? "_", time, record.Offset, values);
            return true;
        }
    }

    /// <summary>An ISO 8601 string or Unix milliseconds.</summary>
    public static bool TryReadTime(JsonElement element, out long unixMs)
    {
        unixMs = 0;
        switch (element.ValueKind)
        {
            case JsonValueKind.Number when element.TryGetInt64(out var ms):
                unixMs = ms;
                return true;
            case JsonValueKind.Number when element.TryGetDouble(out var fractional):
                unixMs = (long)fractional;
                return true;
            case JsonValueKind.String when DateTimeOffset.TryParse(element.GetString(), CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed):
                unixMs = parsed.ToUnixTimeMilliseconds();
                return true;
            default:
                return false;
        }
    }
}
