namespace Iot.Routing.Internal;

/// <summary>
/// The routing layer's whole durable state: definitions and the deliveries of event subscriptions, in one store because
/// deleting a subscription deletes its deliveries with it (atomically in SQLite; in JetStream definition first, then a
/// purge, see <see cref="JetStream.JetStreamRoutingStore"/>). Consumers take the role they need
/// (<see cref="IRoutingDefinitionStore"/>, <see cref="IEventDeliveryStore"/>); hosting and the contract tests take this.
/// </summary>
internal interface IRoutingStore : IRoutingDefinitionStore, IEventDeliveryStore, IAsyncDisposable;
