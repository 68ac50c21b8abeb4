using System.ComponentModel;
using Iot.Messaging.Http;
using System.Net.Mime;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Api;

/// <summary>
/// <c>/devices</c>: the identity registry over HTTP (create, list, get, disable, enable, delete, rotate credentials).
/// Generated secrets appear in the response that created them and never again.
/// </summary>
public static class DeviceEndpoints
{
    /// <summary>Maps the <c>devices</c> endpoints under <paramref name="api"/> (the <c>/api</c> group).</summary>
    public static RouteGroupBuilder MapDeviceApi(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        var devices = api.MapGroup("/devices").WithTags("Devices");
        devices.MapPost("", CreateAsync).WithName("CreateDevice")
            .WithSummary("Creates an identity (role device by default) and returns its password, and an API key for a service or dashboard, once.")
            .WithMetadata(new RequestBodyDescription(typeof(CreateDeviceRequest), false, [MediaTypeNames.Application.Json]))
            .Produces<DeviceCredentialsResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        devices.MapGet("", List).WithName("ListDevices")
            .WithSummary("Lists every identity, without secrets.")
            .Produces<List<DeviceResponse>>();
        devices.MapGet("/{id}", Get).WithName("GetDevice")
            .WithSummary("Gets one identity, without secrets.")
            .Produces<DeviceResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        devices.MapPost("/{id}/disable", (string id, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger) =>
            SetEnabledAsync(id, false, http, registry, logger)).WithName("DisableDevice")
            .WithSummary("Disables an identity: its MQTT connections are closed and its credentials refused until it is enabled.")
            .Produces<DeviceResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        devices.MapPost("/{id}/enable", (string id, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger) =>
            SetEnabledAsync(id, true, http, registry, logger)).WithName("EnableDevice")
            .WithSummary("Enables a disabled identity.")
            .Produces<DeviceResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        devices.MapDelete("/{id}", DeleteAsync).WithName("DeleteDevice")
            .WithSummary("Deletes an identity: its connections are closed and its sessions end.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        // The id in the query: reaches an identity whose id no URL path can carry ('.' or '..', created before ids
        // were restricted to ResourceNames), so that it can still be deleted.
        devices.MapDelete("", ([FromQuery, Description("The identity's id.")] string id, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger) =>
            DeleteAsync(id, http, registry, logger)).WithName("DeleteDeviceById")
            .WithSummary("Deletes an identity named in the query (for an id no URL path can carry, such as '.').")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        devices.MapPost("/{id}/credentials", RotateAsync).WithName("RotateDeviceCredentials")
            .WithSummary("Issues new credentials (the old ones stop working, its connections are closed) and returns them once.")
            .Produces<DeviceCredentialsResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return api;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger, CancellationToken cancellationToken)
    {
        if (!http.Request.HasJsonContentType())
        {
            return ApiProblems.UnsupportedMediaType("Send a JSON body with Content-Type: application/json, such as {\"id\":\"dev-1\",\"role\":\"device\"}.");
        }

        CreateDeviceRequest? body;
        try
        {
            body = await http.Request.ReadFromJsonAsync<CreateDeviceRequest>(cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return ApiProblems.BadRequest($"The body is not valid JSON for a device ({{\"id\":\"...\",\"role\":\"device|service|dashboard\"}}): {ex.Message}");
        }

        if (body is null)
        {
            return ApiProblems.BadRequest("The body must be a JSON object such as {\"id\":\"dev-1\",\"role\":\"device\"}.");
        }

        if (IdentityIds.Validate(body.Id) is { } error)
        {
            return ApiProblems.BadRequest(error);
        }

        var role = IdentityRole.Device;
        if (body.Role is not null && !IdentityIds.TryParseRole(body.Role, out role))
        {
            return ApiProblems.BadRequest($"The role '{body.Role}' is not known: use device, service or dashboard.");
        }

        var written = await WriteAsync(body.Id!, () => registry.TryCreateAsync(body.Id!, role, cancellationToken)).ConfigureAwait(false);
        if (written.Problem is { } problem)
        {
            return problem;
        }

        if (written.Value is not { } issued)
        {
            return ApiProblems.Conflict($"An identity with the id '{body.Id}' already exists.");
        }

        var (identity, credentials) = issued;

        LogChange(logger, identity.Id, IdentityChangeKind.Created, http);
        var location = $"{http.Request.PathBase}{http.Request.Path.Value!.TrimEnd('/')}/{Uri.EscapeDataString(identity.Id)}";
        return Results.Created(location, DeviceCredentialsResponse.From(identity, credentials));
    }

    private static IResult List(IdentityRegistry registry) =>
        Results.Ok(registry.List().Select(DeviceResponse.From).ToList());

    private static IResult Get(string id, IdentityRegistry registry) =>
        registry.TryGet(id, out var identity) ? Results.Ok(DeviceResponse.From(identity)) : UnknownIdentity(id);

    private static async Task<IResult> SetEnabledAsync(string id, bool enabled, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger)
    {
        var written = await WriteAsync(id, () => registry.TrySetEnabledAsync(id, enabled, http.RequestAborted)).ConfigureAwait(false);
        if (written.Problem is { } problem)
        {
            return problem;
        }

        if (written.Value is not { } identity)
        {
            return UnknownIdentity(id);
        }

        LogChange(logger, id, enabled ? IdentityChangeKind.Enabled : IdentityChangeKind.Disabled, http);
        return Results.Ok(DeviceResponse.From(identity));
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger)
    {
        var written = await WriteAsync(id, () => registry.TryDeleteAsync(id, http.RequestAborted)).ConfigureAwait(false);
        if (written.Problem is { } problem)
        {
            return problem;
        }

        if (!written.Value)
        {
            return UnknownIdentity(id);
        }

        LogChange(logger, id, IdentityChangeKind.Deleted, http);
        return Results.NoContent();
    }

    private static async Task<IResult> RotateAsync(string id, HttpContext http, IdentityRegistry registry, ILogger<IdentityRegistry> logger)
    {
        var written = await WriteAsync(id, () => registry.TryRotateCredentialsAsync(id, http.RequestAborted)).ConfigureAwait(false);
        if (written.Problem is { } problem)
        {
            return problem;
        }

        if (written.Value is not { } issued)
        {
            return UnknownIdentity(id);
        }

        var (identity, credentials) = issued;

        LogChange(logger, id, IdentityChangeKind.CredentialsChanged, http);
        return Results.Ok(DeviceCredentialsResponse.From(identity, credentials));
    }

    /// <summary>
    /// Runs a registry write; a write that kept conflicting with writes of the same identity on other cluster nodes
    /// becomes a 409 (nothing was changed by this request), never a lost update.
    /// </summary>
    private static async Task<(T? Value, IResult? Problem)> WriteAsync<T>(string id, Func<Task<T>> write)
    {
        try
        {
            return (await write().ConfigureAwait(false), null);
        }
        catch (IdentityStoreConflictException)
        {
            return (default, ApiProblems.Conflict(
                $"The identity '{id}' was changed on another node at the same time, repeatedly; read it again and retry."));
        }
    }

    private static IResult UnknownIdentity(string id) => ApiProblems.NotFound($"There is no identity with the id '{id}'.");

    private static void LogChange(ILogger logger, string id, IdentityChangeKind kind, HttpContext http)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            IdentityLog.Changed(logger, id, kind, http.User.Identity?.Name ?? "anonymous");
        }
    }
}

/// <summary>The body of <c>POST /api/devices</c>.</summary>
internal sealed record CreateDeviceRequest(string? Id, string? Role);

/// <summary>An identity as the API shows it: no secrets, only whether it has them.</summary>
internal sealed record DeviceResponse(string Id, string Role, bool Enabled, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, bool HasPassword, bool HasApiKey)
{
    public static DeviceResponse From(Identity identity) => new(
        identity.Id, IdentityIds.RoleName(identity.Role), identity.Enabled, identity.CreatedAt, identity.UpdatedAt,
        identity.Password is not null, identity.ApiKeyHash is not null);
}

/// <summary>An identity with the secrets just issued to it: returned once, by create and rotate.</summary>
internal sealed record DeviceCredentialsResponse(
    string Id,
    string Role,
    bool Enabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string Password,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ApiKey)
{
    public static DeviceCredentialsResponse From(Identity identity, IssuedCredentials credentials) => new(
        identity.Id, IdentityIds.RoleName(identity.Role), identity.Enabled, identity.CreatedAt, identity.UpdatedAt,
        credentials.Password, credentials.ApiKey);
}
