using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// An answer of raw bytes (a session state: <c>Produces&lt;Stream&gt;</c>) is written in place as
/// <c>{type: string, format: binary}</c> instead of a reference to a <c>Stream</c> component: client generators (NSwag)
/// recognise raw bytes only in place. Request bodies are written so by <see cref="RequestBodyTransformer"/>.
/// </summary>
internal sealed class BinaryBodyTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        foreach (var path in document.Paths.Values)
        {
            foreach (var operation in path.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
            {
                Inline(operation.RequestBody?.Content);
                foreach (var response in operation.Responses?.Values ?? Enumerable.Empty<IOpenApiResponse>())
                {
                    Inline(response.Content);
                }
            }
        }

        foreach (var (name, schema) in document.Components?.Schemas?.ToList() ?? [])
        {
            if (IsBinary(schema))
            {
                document.Components!.Schemas!.Remove(name);
            }
        }

        return Task.CompletedTask;
    }

    private static void Inline(IDictionary<string, OpenApiMediaType>? content)
    {
        foreach (var media in content?.Values ?? Enumerable.Empty<OpenApiMediaType>())
        {
            if (media.Schema is OpenApiSchemaReference reference && IsBinary(reference))
            {
                media.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
            }
        }
    }

    private static bool IsBinary(IOpenApiSchema schema) => schema.Type == JsonSchemaType.String && schema.Format == "binary";
}
