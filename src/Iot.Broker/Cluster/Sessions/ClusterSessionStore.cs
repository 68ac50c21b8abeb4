using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// <see cref="ISessionStore"/> in cluster mode: session writes go to the session's record in JetStream (a fenced
/// compare-and-set through <see cref="SessionDirectory"/>), acknowledgements delete from the session's JetStream queue,
/// and retained messages stay with the wrapped store (the retained area decides about them). Nothing is loaded at
/// start-up: a session is loaded by the node its client connects to.
/// </summary>
internal sealed class ClusterSessionStore(ISessionStore inner, SessionDirectory directory) : ISessionStore
{
    public async Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken)
    {
        var snapshot = await inner.LoadAsync(cancellationToken).ConfigureAwait(false);
        return snapshot with { Sessions = [] };
    }

    public Task UpsertSessionAsync(PersistedSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return directory.WriteAsync(session.ClientId, session.ClusterEpoch, record => record with
        {
            ExpirySeconds = session.SessionExpiryInterval,
            ProtocolVersion = session.ProtocolVersion,
            Connected = session.DisconnectedAtUnixMs is null,
            DisconnectedAtUnixMs = session.DisconnectedAtUnixMs ?? 0,
            // A will waiting for its delay stays: if this node dies first, the node that claims it publishes it in time.
            Will = session.DisconnectedAtUnixMs is null || session.WillPending ? record.Will : null,
        });
    }

    public Task DeleteSessionAsync(string clientId) => directory.DeleteAsync(clientId);

    public Task UpsertSubscriptionAsync(string clientId, PersistedSubscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return directory.WriteAsync(clientId, record => record with
        {
            Subscriptions = [.. record.Subscriptions.Where(s => !string.Equals(s.Filter, subscription.Filter, StringComparison.Ordinal)), subscription],
        });
    }

    public Task DeleteSubscriptionAsync(string clientId, string filter) =>
        directory.WriteAsync(clientId, record => record with
        {
            Subscriptions = [.. record.Subscriptions.Where(s => !string.Equals(s.Filter, filter, StringComparison.Ordinal))],
        });

    /// <summary>Not used in cluster mode: the publishing node appends (<see cref="MqttSession.QueueInStream"/>).</summary>
    public Task AppendMessageAsync(string clientId, long sequence, BrokerMessage message) => Task.CompletedTask;

    /// <summary>
    /// Lists the message in the session's record as past PUBREC, so that a node that resumes the session after this one
    /// is lost sends PUBREL for it instead of the message again (exactly once across nodes).
    /// </summary>
    public Task MarkReleasedAsync(string clientId, long sequence, ushort packetId) => directory.ReleasedAsync(clientId, sequence, packetId);

    public Task DeleteMessageAsync(string clientId, long sequence) => directory.AcknowledgedAsync(clientId, sequence);

    public Task SetInboundQos2Async(string clientId, ushort[] packetIds) =>
        directory.WriteAsync(clientId, record => record with { InboundQos2 = packetIds });

    public Task SetRetainedAsync(BrokerMessage message, string? owner = null) => inner.SetRetainedAsync(message, owner);

    public Task DeleteRetainedAsync(string topic) => inner.DeleteRetainedAsync(topic);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
