using System.Security.Claims;
using System.Text.Encodings.Web;
using Iot.Broker.Security.Identities;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Iot.Broker.Api;

/// <summary>
/// The <see cref="IotApiPolicy.AuthenticationScheme"/> scheme: an API key in <c>X-Api-Key</c> or
/// <c>Authorization: Bearer</c> becomes a principal whose Name is the identity id and whose Role is its role
/// (<c>device</c>, <c>service</c>, <c>dashboard</c>). Challenges and refusals answer with problem details.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IdentityRegistry registry)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    private const string BearerPrefix = "Bearer ";

    /// <summary>True when the request carries an API key, valid or not.</summary>
    public static bool HasCredentials(HttpRequest request) => ReadKey(request) is not null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = ReadKey(Request);
        if (key is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!registry.TryFindByApiKey(key, out var identity))
        {
            IdentityLog.ApiKeyRejected(Logger, "unknown API key");
            return Task.FromResult(AuthenticateResult.Fail("The API key is not valid."));
        }

        if (!identity.Enabled)
        {
            IdentityLog.ApiKeyRejected(Logger, "identity is disabled");
            return Task.FromResult(AuthenticateResult.Fail("The API key's identity is disabled."));
        }

        var claims = new[]
        {
            new Claim(ClaimTypes.Name, identity.Id),
            new Claim(ClaimTypes.Role, IdentityIds.RoleName(identity.Role)),
        };
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name, ClaimTypes.Name, ClaimTypes.Role));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var detail = HasCredentials(Request)
            ? "The API key is not valid or its identity is disabled."
            : $"This endpoint requires an API key: send it in the {IotApiPolicy.ApiKeyHeader} header or as 'Authorization: Bearer <key>'.";
        await ApiProblems.Unauthorized(detail).ExecuteAsync(Context).ConfigureAwait(false);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var who = Context.User.Identity?.Name ?? "(unknown)";
        var role = Context.User.FindFirst(ClaimTypes.Role)?.Value ?? "(none)";
        var detail = $"Identity '{who}' (role {role}) may not {Request.Method} {Request.Path}: reads (GET, HEAD) need a service or "
            + "dashboard identity, changes need a service identity.";
        await ApiProblems.Forbidden(detail).ExecuteAsync(Context).ConfigureAwait(false);
    }

    private static string? ReadKey(HttpRequest request)
    {
        var apiKey = request.Headers[IotApiPolicy.ApiKeyHeader].ToString().Trim();
        if (apiKey.Length > 0)
        {
            return apiKey;
        }

        var authorization = request.Headers[HeaderNames.Authorization].ToString();
        if (authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization[BearerPrefix.Length..].Trim();
            return token.Length > 0 ? token : null;
        }

        return null;
    }
}
