using System.Text;
using Iot.Messaging.JetStream;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Messaging.Tests.JetStream;

/// <summary>
/// <see cref="KeyValueCompareAndSet"/> on a bucket with three replicas: of writers that expect the same revision of a
/// key, exactly one succeeds, even when they all reach the stream leader before any of them is applied (which the
/// plain key-value update of nats-server 2.9 lets through more than once); a writer's own retry counts as written.
/// </summary>
[Trait("Category", "Integration")]
public sealed class KeyValueCompareAndSetTests(ThreeNatsServers fixture) : IClassFixture<ThreeNatsServers>, IAsyncLifetime
{
    private const int Writers = 4;
    private const int Rounds = 150;
    private readonly NatsConnection[] _connections = new NatsConnection[Writers];
    private readonly INatsKVStore[] _stores = new INatsKVStore[Writers];

    public async Task InitializeAsync()
    {
        var bucket = "cas-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i < Writers; i++)
        {
            // Each writer on its own connection to its own server, as nodes of a cluster are.
            _connections[i] = fixture.Nats.CreateConnection(i % fixture.Nats.ServerCount);
            await _connections[i].ConnectAsync();
            var kv = new NatsKVContext(new NatsJSContext(_connections[i]));
            _stores[i] = i == 0
                ? await kv.CreateStoreAsync(new NatsKVConfig(bucket) { History = 1, NumberOfReplicas = fixture.Nats.Replicas, Storage = NatsKVStorageType.File })
                : await kv.GetStoreAsync(bucket);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConcurrentUpdatesOfOneRevision_ExactlyOneWinsEachRound()
    {
        var revision = await _stores[0].PutAsync("k", Encoding.UTF8.GetBytes("start"));
        for (var round = 0; round < Rounds; round++)
        {
            var expected = revision;
            var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w =>
                _stores[w].TryUpdateExclusiveAsync("k", Encoding.UTF8.GetBytes($"round {round} writer {w}"), expected).AsTask()));
            var winners = results.Where(r => r.Success).ToList();
            Assert.True(winners.Count == 1, $"round {round}: {winners.Count} writers won revision {expected}: " + string.Join(", ", results.Select(Describe)));
            Assert.All(results.Where(r => !r.Success), r => Assert.IsType<NatsKVWrongLastRevisionException>(r.Error));
            revision = winners[0].Value;

            var entry = await _stores[0].GetEntryAsync<byte[]>("k");
            Assert.Equal(revision, entry.Revision);
        }
    }

    [Fact]
    public async Task ConcurrentDeletesAndUpdatesOfOneRevision_ExactlyOneWins()
    {
        for (var round = 0; round < Rounds / 3; round++)
        {
            var key = "d" + round;
            var revision = await _stores[0].PutAsync(key, Encoding.UTF8.GetBytes("start"));
            var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(async w => w % 2 == 0
                ? (await _stores[w].TryDeleteExclusiveAsync(key, revision, purge: w == 2)).Success
                : (await _stores[w].TryUpdateExclusiveAsync(key, Encoding.UTF8.GetBytes("writer " + w), revision)).Success));
            Assert.Equal(1, results.Count(r => r));
        }
    }

    [Fact]
    public async Task ConcurrentCreatesOfADeletedKey_ExactlyOneWins()
    {
        for (var round = 0; round < Rounds / 3; round++)
        {
            var key = "c" + round;
            var first = await _stores[0].TryCreateExclusiveAsync(key, Encoding.UTF8.GetBytes("first"));
            Assert.True(first.Success);
            Assert.False((await _stores[1].TryCreateExclusiveAsync(key, Encoding.UTF8.GetBytes("second"))).Success);
            await _stores[0].DeleteAsync(key);

            var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w =>
                _stores[w].TryCreateExclusiveAsync(key, Encoding.UTF8.GetBytes("writer " + w)).AsTask()));
            Assert.Equal(1, results.Count(r => r.Success));
            Assert.All(results.Where(r => !r.Success), r => Assert.IsType<NatsKVCreateException>(r.Error));
        }
    }

    [Fact]
    public async Task RepeatedWriteAfterItWasApplied_ReportsALostRace_TheValueStays()
    {
        var revision = await _stores[0].PutAsync("r", Encoding.UTF8.GetBytes("start"));
        var value = Encoding.UTF8.GetBytes("mine");
        var written = await _stores[0].TryUpdateExclusiveAsync("r", value, revision);
        Assert.True(written.Success);

        // The same write again (as after a time-out that hid its answer): refused, and nothing is written twice.
        var again = await _stores[1].TryUpdateExclusiveAsync("r", value, revision);
        Assert.IsType<NatsKVWrongLastRevisionException>(again.Error);
        var entry = await _stores[0].GetEntryAsync<byte[]>("r");
        Assert.Equal(written.Value, entry.Revision);
        Assert.Equal(value, entry.Value);
    }

    private static string Describe(NatsResult<ulong> result) => result.Success ? "won " + result.Value : result.Error.GetType().Name;
}
