using System.Diagnostics;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Iot.Broker.Tests.Persistence;

/// <summary>
/// The group-commit measurement quoted in docs/adr/0002-session-storage.md. It asserts durability only, never
/// timing; the figures go to the test output:
/// <c>dotnet test tests/Iot.Broker.Tests -c Release --filter "FullyQualifiedName~Throughput" --logger "console;verbosity=detailed"</c>.
/// </summary>
[Trait("Category", "Slow")]
public sealed class SqliteSessionStoreThroughputTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "iot-broker-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(1, 2_000, true)]
    [InlineData(50, 20_000, true)]
    [InlineData(50, 20_000, false)]
    public async Task AppendMessageAsync_ConcurrentWriters_AllCommittedAndReported(int writers, int operations, bool awaitEach)
    {
        var directory = Path.Combine(_directory, $"{writers}-{operations}-{awaitEach}");
        var payload = new byte[256];
        new Random(1).NextBytes(payload);
        var perWriter = operations / writers;
        var store = new SqliteSessionStore(directory, NullLogger<SqliteSessionStore>.Instance);
        await using (store)
        {
            await Task.WhenAll(Enumerable.Range(0, writers).Select(writer =>
                store.UpsertSessionAsync(new PersistedSession($"client-{writer:D3}", uint.MaxValue, null, 5))));
            var batchesBefore = store.CommittedBatches;
            var commitTimeBefore = store.TotalCommitDuration;
            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, writers).Select(writer => Task.Run(async () =>
            {
                var clientId = $"client-{writer:D3}";
                var pending = new List<Task>(awaitEach ? 0 : perWriter);
                for (var sequence = 1; sequence <= perWriter; sequence++)
                {
                    var message = new BrokerMessage
                    {
                        Topic = $"devices/{clientId}/telemetry",
                        Payload = payload,
                        QualityOfService = 1,
                        ReceivedAtUnixMs = sequence,
                    };
                    var write = store.AppendMessageAsync(clientId, sequence, message);
                    if (awaitEach)
                    {
                        await write;
                    }
                    else
                    {
                        pending.Add(write);
                    }
                }

                await Task.WhenAll(pending);
            })));
            stopwatch.Stop();

            var ops = writers * perWriter;
            Assert.Equal(writers + ops, store.CommittedOperations);
            var seconds = stopwatch.Elapsed.TotalSeconds;
            var commits = store.CommittedBatches - batchesBefore;
            var commitTime = store.TotalCommitDuration - commitTimeBefore;
            output.WriteLine(
                $"writers={writers} ops={ops} awaitEach={awaitEach}: {seconds:F2} s, {ops / seconds:F0} ops/s, " +
                $"{commits} commits, {commits / seconds:F0} commits/s, {(double)ops / commits:F1} ops/commit, " +
                $"{commitTime.TotalMilliseconds / commits:F2} ms/commit");
        }

        await using var reopened = new SqliteSessionStore(directory, NullLogger<SqliteSessionStore>.Instance);
        var snapshot = await reopened.LoadAsync(CancellationToken.None);
        Assert.Equal(writers * perWriter, snapshot.Sessions.Sum(s => s.Messages.Count));
    }
}
