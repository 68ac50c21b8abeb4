using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;

namespace Iot.Routing.Internal;

/// <summary>JSON settings of the routing layer's API and stored definitions: camelCase, enums as camelCase strings.</summary>
internal static class RoutingJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            // Values bound from configuration are strings ("30", "true").
            NumberHandling = JsonNumberHandling.AllowReadingFromString,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>
    /// Turns a configuration section into JSON: a section whose children are all named 0..n-1 is an array, other
    /// sections are objects, values are strings. Lets routes be written in appsettings.json or environment variables.
    /// </summary>
    public static JsonNode? FromConfiguration(IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            return section.Value is null ? null : JsonValue.Create(section.Value);
        }

        var indexes = children.Select(c => int.TryParse(c.Key, System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int i) ? i : -1).ToList();
        if (indexes.All(i => i >= 0) && indexes.Order().SequenceEqual(Enumerable.Range(0, children.Count)))
        {
            var array = new JsonArray();
            foreach (var child in children.OrderBy(c => int.Parse(c.Key, System.Globalization.CultureInfo.InvariantCulture)))
            {
                array.Add(FromConfiguration(child));
            }

            return array;
        }

        var obj = new JsonObject();
        foreach (var child in children)
        {
            obj[child.Key] = FromConfiguration(child);
        }

        return obj;
    }
}
