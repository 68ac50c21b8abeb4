using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>A clock the test moves.</summary>
internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2026, 12, 4, 18, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A store that accepts every write at once; these tests look at memory only.</summary>
internal sealed class NoStore : ISessionStore
{
    public Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task UpsertSessionAsync(PersistedSession session) => Task.CompletedTask;

    public Task DeleteSessionAsync(string clientId) => Task.CompletedTask;

    public Task UpsertSubscriptionAsync(string clientId, PersistedSubscription subscription) => Task.CompletedTask;

    public Task DeleteSubscriptionAsync(string clientId, string filter) => Task.CompletedTask;

    public Task AppendMessageAsync(string clientId, long sequence, BrokerMessage message) => Task.CompletedTask;

    public Task MarkReleasedAsync(string clientId, long sequence, ushort packetId) => Task.CompletedTask;

    public Task DeleteMessageAsync(string clientId, long sequence) => Task.CompletedTask;

    public Task SetRetainedAsync(BrokerMessage message, string? owner = null) => Task.CompletedTask;

    public Task DeleteRetainedAsync(string topic) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
