using System.Text.Json;

namespace Iot.Cli.Http;

/// <summary>An answer of the API: its status, its body as received (what <c>--json</c> prints) and the body parsed.</summary>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Body">The body text, empty for 204.</param>
/// <param name="MediaType">The Content-Type's media type, if any.</param>
/// <param name="Location">The <c>Location</c> header, if any.</param>
internal sealed record ApiResponse(int Status, string Body, string? MediaType, Uri? Location)
{
    private JsonElement? _json;

    /// <summary>The body as JSON; <c>undefined</c> when it is empty or not JSON.</summary>
    public JsonElement Json => _json ??= Parse(Body);

    private static JsonElement Parse(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return default;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return default;
        }
    }
}
