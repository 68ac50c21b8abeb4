using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// Makes the schemas say what the API writes, where the generator, which reads the host's default JSON options, says
/// otherwise: enums are camelCase strings (the routing and streams APIs write them with
/// <c>JsonStringEnumConverter(CamelCase)</c>); numbers are numbers (the web defaults also read numbers from strings,
/// which the generator states as <c>["integer", "string"]</c> with a pattern, a type no client wants); and a member that
/// may be null is not required (the routing and streams APIs leave null members out).
/// </summary>
internal sealed class ApiSchemaTransformer : IOpenApiSchemaTransformer
{
    private static readonly HashSet<Type> Integers = [typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(int), typeof(uint), typeof(long), typeof(ulong)];

    private static readonly HashSet<Type> Numbers = [typeof(float), typeof(double), typeof(decimal)];

    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        var nullable = schema.Type?.HasFlag(JsonSchemaType.Null) == true || underlying != type;
        if (underlying.IsEnum)
        {
            schema.Type = nullable ? JsonSchemaType.String | JsonSchemaType.Null : JsonSchemaType.String;
            schema.Format = null;
            schema.Enum = Enum.GetNames(underlying).Select(n => (JsonNode)JsonValue.Create(JsonNamingPolicy.CamelCase.ConvertName(n))).ToList();
        }
        else if (Integers.Contains(underlying) || Numbers.Contains(underlying))
        {
            var number = Integers.Contains(underlying) ? JsonSchemaType.Integer : JsonSchemaType.Number;
            schema.Type = nullable ? number | JsonSchemaType.Null : number;
            schema.Pattern = null;
        }
        else if (context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object && schema.Required is { Count: > 0 } required && schema.Properties is { } properties)
        {
            foreach (var (name, property) in properties)
            {
                if (MayBeNull(property))
                {
                    required.Remove(name);
                }
            }

            // A nullable member the schema cannot mark (any JSON: object?, JsonElement?).
            foreach (var member in context.JsonTypeInfo.Properties)
            {
                if (member.IsGetNullable && (!member.PropertyType.IsValueType || Nullable.GetUnderlyingType(member.PropertyType) is not null))
                {
                    required.Remove(member.Name);
                }
            }
        }

        return Task.CompletedTask;
    }

    private static bool MayBeNull(IOpenApiSchema schema) =>
        schema.Type?.HasFlag(JsonSchemaType.Null) == true
        || schema.OneOf?.Any(s => s.Type == JsonSchemaType.Null) == true
        || schema.AnyOf?.Any(s => s.Type == JsonSchemaType.Null) == true;
}
