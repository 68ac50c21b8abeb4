using System.Globalization;
using System.Threading.RateLimiting;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Api;

/// <summary>
/// <c>Iot:Http:ApiRequestsPerSecond</c>: a token bucket per caller of <c>/api</c> (ASP.NET Core's rate limiter), so that
/// one identity's flood of requests (or one address's, without valid credentials) cannot starve the others of the API
/// or fill the audit log. It runs after authentication, so a caller is its identity; a refused request gets 429 with
/// <c>Retry-After</c> and a problem body, and is counted.
/// </summary>
internal static class ApiRateLimit
{
    public static IServiceCollection AddApiRateLimit(this IServiceCollection services)
    {
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<HttpOptions>, BrokerMetrics>((options, http, metrics) =>
        {
            var perSecond = http.Value.ApiRequestsPerSecond;
            var burst = http.Value.ApiRequestBurst;

            // Refilled ten times a second (or once per token under 10/s): no burst of refills at each second.
            var (period, tokens) = perSecond >= 10
                ? (TimeSpan.FromMilliseconds(100), perSecond / 10)
                : (TimeSpan.FromSeconds(1.0 / Math.Max(1, perSecond)), 1);
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                perSecond == 0 || !context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal)
                    ? RateLimitPartition.GetNoLimiter("")
                    : RateLimitPartition.GetTokenBucketLimiter(CallerOf(context), _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = burst,
                        TokensPerPeriod = tokens,
                        ReplenishmentPeriod = period,
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = (rejected, cancellationToken) =>
            {
                metrics.LimitHit(LimitKind.HttpApiRate);
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                rejected.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                return new ValueTask(ApiProblems.TooManyRequests(
                    $"More than {perSecond} API requests per second (Iot:Http:ApiRequestsPerSecond, burst {burst}) from this caller; try again in {retryAfter} s.")
                    .ExecuteAsync(rejected.HttpContext));
            };
        });
        return services;
    }

    /// <summary>The caller's bucket: its identity, or its address when it has none.</summary>
    private static string CallerOf(HttpContext context) =>
        context.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name }
            ? "id:" + name
            : "ip:" + context.Connection.RemoteIpAddress;
}
