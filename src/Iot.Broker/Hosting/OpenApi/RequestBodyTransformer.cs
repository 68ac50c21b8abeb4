using System.Text.Json;
using Iot.Messaging.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// Writes the <c>requestBody</c> of an endpoint that reads its body itself and says so with
/// <see cref="RequestBodyDescription"/>: a JSON type as a component reference, raw bytes (<see cref="Stream"/>) as
/// <c>{type: string, format: binary}</c> in place (client generators such as NSwag send bytes only for that), any JSON
/// (<see cref="JsonElement"/>) as <c>{}</c>.
/// </summary>
internal sealed class RequestBodyTransformer : IOpenApiOperationTransformer
{
    /// <summary>Where the generator notes a schema's component id (the type's name; empty for types it writes in place).</summary>
    private const string SchemaIdKey = "x-schema-id";

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RequestBodyDescription>().LastOrDefault() is not { } body)
        {
            return;
        }

        IOpenApiSchema schema;
        if (body.Type == typeof(Stream))
        {
            schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
        }
        else if (body.Type == typeof(JsonElement))
        {
            schema = new OpenApiSchema();
        }
        else
        {
            var generated = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false);
            schema = Componentize(context.Document!, generated, body.Type.Name);
        }

        operation.RequestBody = new OpenApiRequestBody
        {
            Required = !body.IsOptional,
            Content = body.ContentTypes.ToDictionary(type => type, _ => new OpenApiMediaType { Schema = schema }),
        };
    }

    /// <summary>
    /// The generator hands the body's schema back whole, its nested types in place; as the document's own schemas do,
    /// every type with a schema id becomes a component (the existing one when its answers already use it) and a reference.
    /// </summary>
    private static OpenApiSchemaReference Componentize(OpenApiDocument document, OpenApiSchema schema, string id)
    {
        if (document.Components?.Schemas?.ContainsKey(id) != true)
        {
            ReferenceNested(document, schema);
            document.AddComponent(id, schema);
        }

        return new OpenApiSchemaReference(id, document);
    }

    private static void ReferenceNested(OpenApiDocument document, OpenApiSchema schema)
    {
        if (schema.Properties is { } properties)
        {
            foreach (var name in properties.Keys.ToList())
            {
                properties[name] = Reference(document, properties[name]);
            }
        }

        if (schema.Items is { } items)
        {
            schema.Items = Reference(document, items);
        }

        foreach (var alternatives in new[] { schema.OneOf, schema.AnyOf, schema.AllOf })
        {
            for (var i = 0; alternatives is not null && i < alternatives.Count; i++)
            {
                alternatives[i] = Reference(document, alternatives[i]);
            }
        }
    }

    private static IOpenApiSchema Reference(OpenApiDocument document, IOpenApiSchema nested)
    {
        if (nested is not OpenApiSchema inline)
        {
            return nested;
        }

        if (inline.Metadata?.TryGetValue(SchemaIdKey, out var value) == true && value is string { Length: > 0 } id)
        {
            return Componentize(document, inline, id);
        }

        ReferenceNested(document, inline);
        return inline;
    }
}
