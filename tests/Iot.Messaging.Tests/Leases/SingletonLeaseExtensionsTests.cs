using Iot.Messaging.Leases;

namespace Iot.Messaging.Tests.Leases;

public sealed class SingletonLeaseExtensionsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RunWhileHeldAsync_LeaseLostWhileWorking_StopsTheWorkAndRunsItAgainUnderTheNextLease()
    {
        var leases = new QueueLeases();
        using var stop = new CancellationTokenSource();
        var runs = new List<long>();
        var lostCalls = 0;
        var secondRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = leases.RunWhileHeldAsync("job", async (lease, ct) =>
        {
            runs.Add(lease.FencingToken);
            if (runs.Count == 2)
            {
                secondRun.TrySetResult();
            }

            await Task.Delay(Timeout.Infinite, ct);
        }, _ => lostCalls++, stop.Token);

        leases.Issued[0].Lose();
        await secondRun.Task.WaitAsync(Wait);
        Assert.Equal([1, 2], runs);
        Assert.Equal(1, lostCalls);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(Wait));
        Assert.True(leases.Issued[1].Released);
    }

    [Fact]
    public async Task RunWhileHeldAsync_WorkEndsQuietlyWhenLost_AcquiresAgain()
    {
        var leases = new QueueLeases();
        var calls = 0;
        await leases.RunWhileHeldAsync("job", (lease, _) =>
        {
            // A loop that checks its token and returns instead of throwing.
            if (++calls == 1)
            {
                ((QueueLease)lease).Lose();
            }

            return Task.CompletedTask;
        }, null, CancellationToken.None).WaitAsync(Wait);

        Assert.Equal(2, calls);
        Assert.All(leases.Issued, l => Assert.True(l.Released));
    }

    [Fact]
    public async Task RunWhileHeldAsync_WorkFails_LeaseReleasedAndTheErrorThrown()
    {
        var leases = new QueueLeases();

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            leases.RunWhileHeldAsync("job", (_, _) => throw new InvalidOperationException("bug"), null, CancellationToken.None));

        Assert.True(Assert.Single(leases.Issued).Released);
    }

    [Fact]
    public async Task LocalSingletonLeases_AlwaysHeld_TokenConstant()
    {
        var lease = await LocalSingletonLeases.Instance.AcquireAsync("job", CancellationToken.None);

        Assert.True(lease.IsHeld);
        Assert.False(lease.Lost.CanBeCanceled);
        Assert.Equal(LocalSingletonLeases.FencingToken, lease.FencingToken);
        Assert.NotNull(await LocalSingletonLeases.Instance.TryAcquireAsync("job"));
    }

    /// <summary>Grants every request at once with the next token; the test loses them by hand.</summary>
    private sealed class QueueLeases : ISingletonLeases
    {
        public List<QueueLease> Issued { get; } = [];

        public bool IsClustered => true;

        public ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default) =>
            new(Issue(name));

        public Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken) => Task.FromResult<ISingletonLease>(Issue(name));

        private QueueLease Issue(string name)
        {
            var lease = new QueueLease(name, Issued.Count + 1);
            Issued.Add(lease);
            return lease;
        }
    }

    private sealed class QueueLease(string name, long token) : ISingletonLease
    {
        private readonly CancellationTokenSource _lost = new();

        public string Name => name;

        public long FencingToken => token;

        public CancellationToken Lost => _lost.Token;

        public bool IsHeld => !_lost.IsCancellationRequested;

        public bool Released { get; private set; }

        public void Lose() => _lost.Cancel();

        public ValueTask DisposeAsync()
        {
            Released = true;
            return ValueTask.CompletedTask;
        }
    }
}
