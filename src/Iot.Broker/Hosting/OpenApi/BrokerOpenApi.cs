using System.Text.Json;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// The OpenAPI document of the HTTP API, generated from the endpoints' metadata by <c>Microsoft.AspNetCore.OpenApi</c>
/// and served at <see cref="DocumentPath"/> with a browsable page (Swagger UI, its files embedded) at <see cref="UiPath"/>.
/// Both are open, like the dashboard's files: they describe the API and hold no data; every operation under
/// <c>/api</c> still needs its API key (docs/api.md, "OpenAPI").
/// </summary>
internal static class BrokerOpenApi
{
    /// <summary>The document's name, the <c>{documentName}</c> of its path.</summary>
    public const string DocumentName = "v1";

    /// <summary>The route of the document.</summary>
    public const string DocumentRoute = "/openapi/{documentName}.json";

    /// <summary>Where the document is served.</summary>
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>Where the browsable page is served (<c>/openapi/ui/</c>, its files below it).</summary>
    public const string UiPath = "/openapi/ui";

    /// <summary>Registers the document's generator with the project's transformers (docs/architecture.md says why each one).</summary>
    public static IServiceCollection AddIotOpenApi(this IServiceCollection services)
    {
        services.AddOpenApi(DocumentName, options =>
        {
            options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            options.AddDocumentTransformer<ApiDocumentTransformer>();
            // Any JSON (an event, a command's answer: JsonElement) is written in place, not as an empty 'JsonElement'
            // component that client generators (NSwag) would turn into a class only JSON objects fit.
            options.CreateSchemaReferenceId = type => (Nullable.GetUnderlyingType(type.Type) ?? type.Type) == typeof(JsonElement)
                ? null
                : OpenApiOptions.CreateDefaultSchemaReferenceId(type);
            options.AddDocumentTransformer<BinaryBodyTransformer>();
            options.AddOperationTransformer<ApiKeyOperationTransformer>();
            options.AddOperationTransformer<RequestBodyTransformer>();
            options.AddOperationTransformer<PathParameterTransformer>();
            options.AddSchemaTransformer<ApiSchemaTransformer>();
        });
        return services;
    }

    /// <summary>Maps the document and serves the page (a middleware: its files are not endpoints).</summary>
    public static WebApplication MapIotOpenApi(this WebApplication app)
    {
        app.MapOpenApi(DocumentRoute);
        app.UseSwaggerUI(ui =>
        {
            ui.RoutePrefix = UiPath.TrimStart('/');
            // Relative to the page, so that it also works behind a path base or a reverse proxy.
            ui.SwaggerEndpoint("../" + DocumentName + ".json", "Iot broker API " + DocumentName);
            ui.DocumentTitle = "Iot broker API";
            ui.EnableTryItOutByDefault();
            ui.ConfigObject.ValidatorUrl = null;
        });
        return app;
    }
}
