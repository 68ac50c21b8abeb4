using System.ComponentModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Reading a claim-checked payload over HTTP: <c>GET /claimcheck/{id}?expires=..&amp;sig=..</c> (the signed URL of a
/// reference, no API key) and <c>GET /api/claimcheck/{id}</c> (an API key, any time within the retention).
/// </summary>
public static class ClaimCheckEndpoints
{
    /// <summary>Maps <c>GET /claimcheck/{id}</c> on the application (outside <c>/api</c>: the signature is the credential).</summary>
    public static IEndpointRouteBuilder MapClaimCheckUrls(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/claimcheck/{id}", async (string id,
            [Description("Unix seconds after which the URL no longer works.")] long? expires,
            [Description("The URL's signature.")] string? sig,
            HttpContext context) =>
        {
            var claims = context.RequestServices.GetRequiredService<ClaimCheckService>();
            var time = context.RequestServices.GetRequiredService<TimeProvider>();
            if (!ClaimCheckIds.IsValid(id) || expires is not { } exp || !claims.Signer.IsValid(id, exp, sig, time.GetUtcNow()))
            {
                return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Invalid or expired URL",
                    detail: "The claim-check URL's signature does not match or its time is up; read the blob with GET /api/claimcheck/{id} and an API key, or take the URL of a newer reference.");
            }

            return await Payload(claims, id, context).ConfigureAwait(false);
        })
            .AllowAnonymous()
            .WithTags("Claim check")
            .WithName("ReadClaimCheckUrl")
            .WithSummary("Reads a claim-checked payload through the signed, expiring URL of its reference (no API key); 403 when the signature does not match or the time is up, 404 when the blob is gone.")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Maps <c>GET /claimcheck/{id}</c> under the API group (an API key is the credential).</summary>
    public static IEndpointRouteBuilder MapClaimCheckApi(this IEndpointRouteBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/claimcheck/{id}", (string id, HttpContext context) =>
            Payload(context.RequestServices.GetRequiredService<ClaimCheckService>(), id, context))
            .WithTags("Claim check")
            .WithName("GetClaimCheckBlob")
            .WithSummary("Reads a claim-checked payload by the id of its reference (application/octet-stream); 404 when it is gone (past Iot:ClaimCheck:Retention).")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    private static async Task<IResult> Payload(ClaimCheckService claims, string id, HttpContext context)
    {
        var stream = await claims.OpenAsync(id, context.RequestAborted).ConfigureAwait(false);
        return stream is null
            ? Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such blob",
                detail: $"There is no claim-check blob '{id}': it was never stored, or it was deleted after Iot:ClaimCheck:Retention.")
            : Results.Stream(stream, "application/octet-stream");
    }
}
