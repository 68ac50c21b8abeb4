using System.Text.RegularExpressions;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// Describes the path parameters, which name the resource of the path segment before them (<c>/queues/{name}</c>: a
/// queue's name). One table for the whole API rather than an attribute on each of some fifty handlers; a parameter it
/// does not know keeps no description, and <c>OpenApiDocumentTests</c> fails on it.
/// </summary>
internal sealed partial class PathParameterTransformer : IOpenApiOperationTransformer
{
    private static readonly Dictionary<(string Collection, string Parameter), string> Descriptions = new()
    {
        [("devices", "id")] = "The identity's id (a device's id is also its MQTT client id).",
        [("commands", "name")] = "The command's name: one MQTT topic level (no '/', '+' or '#').",
        [("commands", "commandId")] = "The command's id, from the answer that sent it (or its Location).",
        [("queues", "name")] = "The queue's name.",
        [("messages", "sequenceNumber")] = "The message's sequence number, from the answer that sent it.",
        [("sessions", "sessionId")] = "The session's id.",
        [("routes", "name")] = "The route's name.",
        [("subscriptions", "name")] = "The event subscription's name.",
        [("streams", "name")] = "The stream's name.",
        [("partitions", "partition")] = "The partition, 0 to the stream's partitions - 1.",
        [("groups", "group")] = "The consumer group's name.",
        [("claimcheck", "id")] = "The blob id: the reference's claimCheck.id (docs/api.md, \"Claim check\").",
        [("backups", "id")] = "The backup's id: its UTC start time, yyyyMMddTHHmmssfffZ (as listed).",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var path = context.Description.RelativePath ?? "";
        foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
        {
            if (parameter.In != ParameterLocation.Path || !string.IsNullOrEmpty(parameter.Description))
            {
                continue;
            }

            foreach (Match segment in CollectionAndParameter().Matches(path))
            {
                if (segment.Groups["parameter"].Value == parameter.Name
                    && Descriptions.TryGetValue((segment.Groups["collection"].Value, parameter.Name), out var description))
                {
                    parameter.Description = description;
                }
            }
        }

        return Task.CompletedTask;
    }

    [GeneratedRegex(@"(?<collection>[^/{}]+)/\{(?<parameter>[^}:]+)[^}]*\}")]
    private static partial Regex CollectionAndParameter();
}
