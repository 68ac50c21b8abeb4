using System.Text.Json.Nodes;

namespace Iot.Messaging.Crossover;

/// <summary>
/// Something a service of the platform did (a device connected, a queue has dead letters, a sink fails), raised as a
/// CloudEvent into the routing layer so that event subscriptions filter and push it like any device event
/// (docs/api.md, "Crossover events"). Routing turns it into a CloudEvent with a new id and the time it was raised.
/// </summary>
/// <param name="Type">The CloudEvents <c>type</c>, one of <see cref="CrossoverTypes"/>.</param>
/// <param name="Source">The CloudEvents <c>source</c>: the service that raised it, e.g. <c>/iot/queues</c>.</param>
/// <param name="Subject">The CloudEvents <c>subject</c>, routed as a topic: always under <see cref="CrossoverTypes.SubjectPrefix"/>.</param>
/// <param name="Data">The event's JSON data (its schema per type is in docs/api.md).</param>
/// <param name="Time">When it happened.</param>
public sealed record CrossoverEvent(string Type, string Source, string Subject, JsonObject Data, DateTimeOffset Time);
