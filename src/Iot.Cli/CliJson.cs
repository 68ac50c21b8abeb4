using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iot.Cli;

/// <summary>JSON as the API writes it (camelCase, nulls left out of requests) and the readers the tables use.</summary>
internal static class CliJson
{
    /// <summary>Request bodies: camelCase like the API, null members left out (the API's defaults apply).</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Output the CLI composes itself (<c>metrics summary --json</c>, <c>queues resubmit --json</c>): camelCase, indented.</summary>
    public static JsonSerializerOptions Indented { get; } = new(Options) { WriteIndented = true };

    /// <summary>The property <paramref name="name"/> of an object, or <c>undefined</c>.</summary>
    public static JsonElement Get(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;

    /// <summary>A string property's value; a number or boolean as its text; null when absent or null.</summary>
    public static string? Text(JsonElement element, string name) => Get(element, name) switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } v => v.GetRawText(),
        _ => null,
    };

    /// <summary>A number property, or null.</summary>
    public static long? Long(JsonElement element, string name) =>
        Get(element, name) is { ValueKind: JsonValueKind.Number } n && n.TryGetInt64(out var value) ? value : null;

    /// <summary>A property as a table shows it: text as is, JSON values compact, absent or null as <c>-</c>.</summary>
    public static string Show(JsonElement element, string name) => Show(Get(element, name));

    /// <summary>A value as a table shows it: text as is, JSON values compact, absent or null as <c>-</c>.</summary>
    public static string Show(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => "-",
        JsonValueKind.String => value.GetString()!,
        _ => value.GetRawText(),
    };

    /// <summary>A time property for people: <c>2026-12-04 16:50:02Z</c> (UTC, to the second), <c>-</c> when absent.</summary>
    public static string Time(JsonElement element, string name) =>
        Text(element, name) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
            ? time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : Show(element, name);

    /// <summary>The items of an array (none when it is not one).</summary>
    public static IEnumerable<JsonElement> Items(JsonElement element) =>
        element.ValueKind == JsonValueKind.Array ? element.EnumerateArray() : [];
}
