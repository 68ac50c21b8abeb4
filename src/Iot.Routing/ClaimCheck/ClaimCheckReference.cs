using System.Text.Encodings.Web;
using System.Text.Json;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// What a message carries in place of its payload (docs/api.md, "Claim check"): the JSON body
/// <c>{"claimCheck":{"id":..,"size":..,"contentType":..,"url":..,"expiresAt":..}}</c> with content type
/// <see cref="ContentType"/>, and on MQTT 5 the user property <see cref="UserProperty"/> holding the id.
/// </summary>
/// <param name="Id">The blob's id (32 lowercase hex digits).</param>
/// <param name="Size">The payload's length in bytes.</param>
/// <param name="PayloadContentType">The payload's own content type, when the publisher or sender gave one.</param>
/// <param name="Url">A URL that reads the payload until <paramref name="ExpiresAt"/> (absolute, or a path on the broker's HTTP address).</param>
/// <param name="ExpiresAt">When <paramref name="Url"/> stops working.</param>
internal sealed record ClaimCheckReference(string Id, long Size, string? PayloadContentType, string Url, DateTimeOffset ExpiresAt)
{
    /// <summary>The MQTT 5 user property that marks a claim-checked message; its value is the blob id.</summary>
    public const string UserProperty = "iot-claim-check";

    /// <summary>The content type of a reference body.</summary>
    public const string ContentType = "application/vnd.iot.claim-check+json";

    /// <summary>The JSON body.</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream(256);
        // Relaxed escaping: the URL's '&' stays '&' (not \u0026) for people and tools that read the body as text; the
        // body is never embedded in HTML.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("claimCheck");
            writer.WriteString("id", Id);
            writer.WriteNumber("size", Size);
            if (PayloadContentType is null)
            {
                writer.WriteNull("contentType");
            }
            else
            {
                writer.WriteString("contentType", PayloadContentType);
            }

            writer.WriteString("url", Url);
            writer.WriteString("expiresAt", ExpiresAt.UtcDateTime);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Reads a reference body; false when <paramref name="body"/> is not one.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> body, out ClaimCheckReference? reference)
    {
        reference = null;
        if (body.Length is 0 or > 4096)
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (!document.RootElement.TryGetProperty("claimCheck", out var c) || c.ValueKind != JsonValueKind.Object
                || c.GetProperty("id").GetString() is not { } id || !ClaimCheckIds.IsValid(id))
            {
                return false;
            }

            reference = new ClaimCheckReference(id, c.GetProperty("size").GetInt64(),
                c.TryGetProperty("contentType", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null,
                c.GetProperty("url").GetString() ?? string.Empty, c.GetProperty("expiresAt").GetDateTimeOffset());
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }
}
