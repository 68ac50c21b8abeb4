using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Api;

/// <summary>
/// Every HTTP error as RFC 7807 problem details (<c>application/problem+json</c>) with a clear <c>detail</c>: the
/// errors endpoints return themselves, the empty ones of the framework (404 unknown path, 405, 415, 400 from parameter
/// binding; through <c>UseStatusCodePages</c>) and the client's errors that surface as exceptions (a body over the size
/// limit: 413; malformed JSON: 400), which are answered here instead of being logged as unhandled exceptions.
/// </summary>
internal static partial class ApiErrors
{
    /// <summary>Registers problem details with the project's details and the handler of the client's bad requests.</summary>
    public static IServiceCollection AddApiErrors(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            problem.Detail ??= DefaultDetail(context.HttpContext, problem.Status ?? context.HttpContext.Response.StatusCode);
        });
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        return services;
    }

    /// <summary>
    /// Adds the exception handler, the status-code pages and the request body limit; call first, so that they see every
    /// error and every body.
    /// </summary>
    public static IApplicationBuilder UseApiErrors(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<RequestBodyLimit>();
        return app;
    }

    private static string? DefaultDetail(HttpContext http, int status)
    {
        var request = $"{http.Request.Method} {http.Request.Path}";
        return status switch
        {
            StatusCodes.Status400BadRequest => $"{request}: the request is malformed (a parameter or the body could not be read); see docs/api.md.",
            StatusCodes.Status404NotFound => $"There is no resource at {request}; see docs/api.md for the API.",
            StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
            StatusCodes.Status413PayloadTooLarge => $"The request body is larger than the server accepts ({MaxBodyText(http)}).",
            StatusCodes.Status415UnsupportedMediaType => $"{request}: the Content-Type '{http.Request.ContentType}' is not supported here; send application/json.",
            StatusCodes.Status500InternalServerError => "The server failed to handle the request; its log has the details.",
            _ => null,
        };
    }

    private static string MaxBodyText(HttpContext http) => string.Create(CultureInfo.InvariantCulture,
        $"at most {http.RequestServices.GetRequiredService<IOptions<Hosting.HttpOptions>>().Value.MaxRequestBodyBytes} bytes, Iot:Http:MaxRequestBodyBytes");

    /// <summary>
    /// A body over the limit, a malformed body or parameter: the client's mistake, answered with its status (413, 400)
    /// as problem details and logged at Debug, never as an unhandled exception. Anything else stays a 500.
    /// </summary>
    private sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems, Mqtt.BrokerMetrics metrics,
        ILogger<BadRequestExceptionHandler> logger)
        : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            (int status, string title) = exception switch
            {
                BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge, "Request body too large"),
                BadHttpRequestException bad => (bad.StatusCode, "Invalid request"),
                JsonException => (StatusCodes.Status400BadRequest, "Invalid JSON"),
                _ => (0, ""),
            };
            if (status == 0 || httpContext.Response.HasStarted)
            {
                return false;
            }

            if (status == StatusCodes.Status413PayloadTooLarge)
            {
                metrics.LimitHit(Mqtt.LimitKind.HttpRequestBody);
            }

            LogRefused(logger, httpContext.Request.Method, httpContext.Request.Path, status, exception.Message);
            httpContext.Response.StatusCode = status;
            var detail = status == StatusCodes.Status413PayloadTooLarge
                ? $"The request body is larger than the server accepts ({MaxBodyText(httpContext)})."
                : exception.Message;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                ProblemDetails = { Status = status, Title = title, Detail = detail },
            }).ConfigureAwait(false);
        }

        [LoggerMessage(1901, LogLevel.Debug, "HTTP {Method} {Path} refused with {Status}: {Reason}")]
        private static partial void LogRefused(ILogger logger, string method, string path, int status, string reason);
    }
}
