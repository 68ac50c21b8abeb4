using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// An operation that requires authorization (the <c>/api</c> group) needs an API key, in either header: the document
/// says so with a security requirement of each scheme (either one suffices). Its 401 and 403 problems come from the
/// group's <c>ProducesProblem</c> metadata.
/// </summary>
internal sealed class ApiKeyOperationTransformer : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any())
        {
            operation.Security ??= [];
            foreach (var scheme in new[] { ApiDocumentTransformer.ApiKeyScheme, ApiDocumentTransformer.BearerScheme })
            {
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] });
            }
        }

        return Task.CompletedTask;
    }
}
