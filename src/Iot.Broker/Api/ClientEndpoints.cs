using System.ComponentModel;
using Iot.Broker.Mqtt;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Api;

/// <summary><c>GET /api/clients</c>: the MQTT clients connected now (read-only; see docs/api.md).</summary>
internal static class ClientEndpoints
{
    /// <summary>The most clients one answer lists; <c>connected</c> still counts them all.</summary>
    public const int MaxLimit = 10_000;

    public static IEndpointRouteBuilder MapClientApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/clients", List).WithName("ListClients").WithTags("Clients")
            .WithSummary("Lists the MQTT clients connected now, by client id (at most limit, 1000 by default; connected counts them all).")
            .Produces<ClientListResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    private static IResult List(SessionManager sessions,
        [Description("Only clients whose client id starts with this.")] string? prefix,
        [Description("The most clients to list, 1 to 10000 (1000 by default).")] int? limit)
    {
        if (limit is < 1 or > MaxLimit)
        {
            return ApiProblems.BadRequest($"limit must be between 1 and {MaxLimit}.");
        }

        // A snapshot of the connection registry: no lock is taken, and a connection that ends meanwhile is simply left out.
        var clients = new List<ConnectedClient>();
        foreach (var connection in sessions.Connections)
        {
            if (connection.Snapshot() is { } client && (prefix is null || client.ClientId.StartsWith(prefix, StringComparison.Ordinal)))
            {
                clients.Add(client);
            }
        }

        clients.Sort(static (a, b) => string.CompareOrdinal(a.ClientId, b.ClientId));
        var take = Math.Min(clients.Count, limit ?? 1000);
        return Results.Ok(new ClientListResponse(
            clients.Count,
            sessions.SessionCount,
            take < clients.Count,
            clients.Take(take).Select(ClientResponse.From).ToList()));
    }
}

/// <summary>The answer of <c>GET /api/clients</c>.</summary>
/// <param name="Connected">Connected clients that match the query (all of them, even beyond <c>limit</c>).</param>
/// <param name="Sessions">Sessions the broker holds, connected or persistent.</param>
/// <param name="Truncated">More clients matched than <c>limit</c>.</param>
/// <param name="Clients">The clients, by client id.</param>
internal sealed record ClientListResponse(int Connected, int Sessions, bool Truncated, IReadOnlyList<ClientResponse> Clients);

/// <summary>One connected client.</summary>
internal sealed record ClientResponse(string ClientId, string? Identity, string? Role, string ProtocolVersion, string? RemoteEndPoint,
    DateTimeOffset? ConnectedAt, int KeepAliveSeconds, int Subscriptions, int QueuedMessages, bool PersistentSession)
{
    public static ClientResponse From(ConnectedClient c) => new(
        c.ClientId, c.Identity, c.Role is { } role ? IdentityIds.RoleName(role) : null, c.ProtocolVersion, c.RemoteEndPoint,
        c.ConnectedAtUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(c.ConnectedAtUnixMs) : null,
        c.KeepAliveSeconds, c.Subscriptions, c.QueuedMessages, c.PersistentSession);
}
