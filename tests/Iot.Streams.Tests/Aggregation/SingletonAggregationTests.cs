using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Messaging.Leases;
using Iot.Streams.Log;
using Iot.Streams.Tests.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Streams.Tests.Aggregation;

/// <summary>
/// Aggregation windows as singletons: a window x partition runs only while its lease is held, stops when the lease is
/// lost, runs again when it is granted again; a commit under a lost lease is refused. The leases are granted by hand
/// (<see cref="ManualLeases"/>) as the cluster's would be.
/// </summary>
public sealed class SingletonAggregationTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Aggregation_RunsOnlyWhileItsLeaseIsHeld_AndAgainWhenRegranted()
    {
        var leases = new ManualLeases();
        await using var host = await StreamsHost.StartAsync(_dir.Path, new()
        {
            ["Iot:Streams:Windows:0:Name"] = "t10s",
            ["Iot:Streams:Windows:0:Kind"] = "Tumbling",
            ["Iot:Streams:Windows:0:Size"] = "00:00:10",
            ["Iot:Streams:Windows:0:Fields:0"] = "temperature",
        }, services => services.AddSingleton<ISingletonLeases>(leases));

        // Every partition of the default stream (4) asks for its lease; none is granted: nothing runs. (The crossover
        // lag check asks for its own lease, crossover.streams, too.)
        static List<string> Aggregations(ManualLeases leases) =>
            [.. leases.Waiting.Keys.Where(k => k.StartsWith("streams.", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
        await Poll.UntilAsync(() => Task.FromResult(Aggregations(leases).Count == 4), Wait, "four partitions wait for their lease");
        Assert.Equal(
            ["streams.telemetry.aggregate.t10s.0", "streams.telemetry.aggregate.t10s.1", "streams.telemetry.aggregate.t10s.2", "streams.telemetry.aggregate.t10s.3"],
            Aggregations(leases));
        Assert.Empty(await RunningAsync(host));

        var lease = leases.Grant("streams.telemetry.aggregate.t10s.2", token: 7);
        await Poll.UntilAsync(async () => await RunningAsync(host) is [2], Wait, "partition 2 runs");

        // Lost: the partition stops and waits for its lease again.
        lease.Lose();
        await Poll.UntilAsync(async () => await RunningAsync(host) is [] && leases.Waiting.ContainsKey("streams.telemetry.aggregate.t10s.2"),
            Wait, "partition 2 stopped and waits again");

        leases.Grant("streams.telemetry.aggregate.t10s.2", token: 9);
        await Poll.UntilAsync(async () => await RunningAsync(host) is [2], Wait, "partition 2 runs again");
    }

    [Fact]
    public async Task Aggregation_CommitRefusedWhileItsLeaseIsHeld_ReleasesIt_AndIsNoLongerListedAsRunning()
    {
        // Another commit of the group's position (an operator's, or a node that took over) refuses this owner's next
        // commit while its lease still looks held: the run fails, the lease is released, and the partition must not stay
        // listed as running here (another node may run it now).
        var leases = new ManualLeases();
        await using var host = await StreamsHost.StartAsync(_dir.Path, new()
        {
            ["Iot:Streams:Windows:0:Name"] = "t10s",
            ["Iot:Streams:Windows:0:Kind"] = "Tumbling",
            ["Iot:Streams:Windows:0:Size"] = "00:00:10",
            ["Iot:Streams:Windows:0:Fields:0"] = "temperature",
        }, services => services.AddSingleton<ISingletonLeases>(leases));
        const string Lease = "streams.telemetry.aggregate.t10s.2";
        await Poll.UntilAsync(() => Task.FromResult(leases.Waiting.ContainsKey(Lease)), Wait, "partition 2 waits for its lease");
        var lease = leases.Grant(Lease, token: 3);
        await Poll.UntilAsync(async () => await RunningAsync(host) is [2], Wait, "partition 2 runs");

        var store = host.App.Services.GetRequiredService<IStreamStore>();
        await store.GetGroups("telemetry").CommitAsync("aggregate.t10s", 2, new CommittedOffset(0, null));
        await store.GetPartition("telemetry", 2).AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, "dev-1", "devices/dev-1/telemetry",
            """{"temperature":21}"""u8.ToArray()));

        await Poll.UntilAsync(() => Task.FromResult(leases.Waiting.ContainsKey(Lease)), Wait, "partition 2 released its lease and waits again");
        Assert.False(lease.IsHeld);
        Assert.Empty(await RunningAsync(host));
    }

    [Fact]
    public async Task FencedCursor_LeaseLost_RefusedAndTheCommittedOffsetKept()
    {
        var groups = new ConsumerGroupStore(_dir.Combine("groups"));
        var lease = new ManualLease("streams.s.aggregate.w.0", 1);
        var cursor = await FencedCursor.OpenAsync(groups, "aggregate.w", 0, lease, CancellationToken.None);
        await cursor.CommitAsync(new CommittedOffset(5, null), CancellationToken.None);

        lease.Lose();

        await Assert.ThrowsAsync<LeaseLostException>(() => cursor.CommitAsync(new CommittedOffset(9, null), CancellationToken.None).AsTask());
        Assert.Equal(new CommittedOffset(5, null), groups.GetCommitted("aggregate.w", 0));
    }

    [Fact]
    public async Task FencedCursor_PausedFormerOwnerStillHoldingItsLease_RefusedOnceTheNewOwnerOpened()
    {
        // The former owner believes it still holds its lease (a paused process that has not noticed yet); the new
        // owner's OpenAsync re-commits the stored position, so the former owner's next commit finds a newer revision.
        var groups = new ConsumerGroupStore(_dir.Combine("groups"));
        var former = await FencedCursor.OpenAsync(groups, "aggregate.w", 0, new ManualLease("streams.s.aggregate.w.0", 1), CancellationToken.None);
        await former.CommitAsync(new CommittedOffset(5, "100"), CancellationToken.None);

        var successor = await FencedCursor.OpenAsync(groups, "aggregate.w", 0, new ManualLease("streams.s.aggregate.w.0", 2), CancellationToken.None);

        Assert.Equal(new CommittedOffset(5, "100"), successor.Committed);
        await Assert.ThrowsAsync<LeaseLostException>(() => former.CommitAsync(new CommittedOffset(7, "200"), CancellationToken.None).AsTask());
        await successor.CommitAsync(new CommittedOffset(6, "150"), CancellationToken.None);
        Assert.Equal(new CommittedOffset(6, "150"), groups.GetCommitted("aggregate.w", 0));
    }

    [Fact]
    public async Task LocalLeases_AlwaysHeldNeverLost()
    {
        var lease = await LocalSingletonLeases.Instance.AcquireAsync("anything", CancellationToken.None);
        var again = await LocalSingletonLeases.Instance.TryAcquireAsync("anything");

        Assert.True(lease.IsHeld);
        Assert.NotNull(again);
        Assert.False(lease.Lost.CanBeCanceled);
        Assert.Equal(LocalSingletonLeases.FencingToken, lease.FencingToken);
        Assert.False(LocalSingletonLeases.Instance.IsClustered);
    }

    private static async Task<int[]> RunningAsync(StreamsHost host)
    {
        using var json = await host.Http.GetFromJsonAsync<JsonDocument>("/api/streams/telemetry/aggregations");
        return [.. json!.RootElement.EnumerateArray().Select(s => s.GetProperty("partition").GetInt32()).Order()];
    }

    /// <summary>Leases granted by the test: <see cref="AcquireAsync"/> waits until <see cref="Grant"/>.</summary>
    private sealed class ManualLeases : ISingletonLeases
    {
        public ConcurrentDictionary<string, TaskCompletionSource<ISingletonLease>> Waiting { get; } = new(StringComparer.Ordinal);

        public bool IsClustered => true;

        public ManualLease Grant(string name, long token)
        {
            var lease = new ManualLease(name, token);
            Assert.True(Waiting.TryRemove(name, out var waiter), name + " was not waiting");
            waiter.SetResult(lease);
            return lease;
        }

        public ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default) => new((ISingletonLease?)null);

        public Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken)
        {
            var waiter = new TaskCompletionSource<ISingletonLease>(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.True(Waiting.TryAdd(name, waiter), name + " asked twice at once");
            return waiter.Task.WaitAsync(cancellationToken);
        }
    }

    private sealed class ManualLease(string name, long token) : ISingletonLease
    {
        private readonly CancellationTokenSource _lost = new();

        public string Name => name;

        public long FencingToken => token;

        public CancellationToken Lost => _lost.Token;

        public bool IsHeld => !_lost.IsCancellationRequested;

        public void Lose() => _lost.Cancel();

        public ValueTask DisposeAsync()
        {
            _lost.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
