using System.Security.Cryptography;
using Iot.Routing.ClaimCheck;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.ClaimCheck;

/// <summary>The <see cref="IClaimCheckStore"/> contract, and the sweeper over it; each store inherits it.</summary>
public abstract class ClaimCheckStoreContractTests : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    internal IClaimCheckStore Store { get; private set; } = null!;

    /// <summary>Creates an empty store on <see cref="Time"/>.</summary>
    internal abstract IClaimCheckStore CreateStore();

    public virtual async Task InitializeAsync()
    {
        Store = CreateStore();
        await Store.InitializeAsync(CancellationToken.None);
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task WritePendingAsync_ThenCommit_ReadsTheSameBytes()
    {
        var payload = RandomNumberGenerator.GetBytes(1_000_000);
        var id = ClaimCheckIds.New();

        Assert.Equal(payload.Length, await Store.WritePendingAsync(id, new MemoryStream(payload), CancellationToken.None));
        Assert.True(await Store.CommitAsync(id, CancellationToken.None));

        Assert.Equal(payload, await ReadAsync(id));
    }

    [Fact]
    public async Task OpenReadAsync_PendingBlob_IsNotReadable()
    {
        var id = ClaimCheckIds.New();
        await Store.WritePendingAsync(id, new MemoryStream([1, 2, 3]), CancellationToken.None);

        Assert.Null(await Store.OpenReadAsync(id, CancellationToken.None));
        var listed = Assert.Single(await ListAsync(), b => b.Id == id);
        Assert.Equal(ClaimCheckBlobState.Pending, listed.State);
        Assert.Equal(3, listed.Length);
    }

    [Fact]
    public async Task CommitAsync_UnknownOrAlreadyCommitted_ReturnsFalse()
    {
        var id = ClaimCheckIds.New();
        Assert.False(await Store.CommitAsync(id, CancellationToken.None));

        await Store.WritePendingAsync(id, new MemoryStream([7]), CancellationToken.None);
        Assert.True(await Store.CommitAsync(id, CancellationToken.None));
        Assert.False(await Store.CommitAsync(id, CancellationToken.None));
        Assert.Equal([7], await ReadAsync(id));
    }

    [Fact]
    public async Task WritePendingAsync_IdThatExists_Throws()
    {
        var id = ClaimCheckIds.New();
        await Store.WritePendingAsync(id, new MemoryStream([1]), CancellationToken.None);
        await Store.CommitAsync(id, CancellationToken.None);

        await Assert.ThrowsAnyAsync<Exception>(() => Store.WritePendingAsync(id, new MemoryStream([2]), CancellationToken.None));
        Assert.Equal([1], await ReadAsync(id));
    }

    [Fact]
    public async Task DeleteAsync_PendingAndCommitted_RemovesThem()
    {
        var pending = ClaimCheckIds.New();
        var committed = ClaimCheckIds.New();
        await Store.WritePendingAsync(pending, new MemoryStream([1]), CancellationToken.None);
        await Store.WritePendingAsync(committed, new MemoryStream([2]), CancellationToken.None);
        await Store.CommitAsync(committed, CancellationToken.None);

        Assert.True(await Store.DeleteAsync(pending, CancellationToken.None));
        Assert.True(await Store.DeleteAsync(committed, CancellationToken.None));
        Assert.False(await Store.DeleteAsync(committed, CancellationToken.None));

        Assert.Null(await Store.OpenReadAsync(committed, CancellationToken.None));
        Assert.DoesNotContain(await ListAsync(), b => b.Id == pending || b.Id == committed);
    }

    [Fact]
    public async Task ListAsync_ReportsStateAndCreationTimeFromTheClock()
    {
        var first = ClaimCheckIds.New();
        await Store.WritePendingAsync(first, new MemoryStream(new byte[10]), CancellationToken.None);
        await Store.CommitAsync(first, CancellationToken.None);
        Time.Advance(TimeSpan.FromMinutes(5));
        var second = ClaimCheckIds.New();
        await Store.WritePendingAsync(second, new MemoryStream(new byte[20]), CancellationToken.None);

        var blobs = (await ListAsync()).ToDictionary(b => b.Id);

        Assert.Equal(ClaimCheckBlobState.Committed, blobs[first].State);
        Assert.Equal(10, blobs[first].Length);
        Assert.Equal(Time.GetUtcNow() - TimeSpan.FromMinutes(5), blobs[first].CreatedAt, TimeSpan.FromSeconds(1));
        Assert.Equal(ClaimCheckBlobState.Pending, blobs[second].State);
        Assert.Equal(Time.GetUtcNow(), blobs[second].CreatedAt, TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("")]
    public async Task Operations_InvalidId_ThrowArgumentException(string id)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.WritePendingAsync(id, new MemoryStream([1]), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(id, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeleteAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task Sweeper_DeletesOrphansAfterTheGracePeriodAndCommittedBlobsAfterTheRetention()
    {
        var options = new ClaimCheckOptions { Enabled = true, OrphanGracePeriod = TimeSpan.FromHours(1), Retention = TimeSpan.FromDays(1) };
        var sweeper = new ClaimCheckSweeper(Store, Options.Create(options), new ClaimCheckMetrics(), Time, NullLogger<ClaimCheckSweeper>.Instance);
        var orphan = ClaimCheckIds.New();
        var committed = ClaimCheckIds.New();
        await Store.WritePendingAsync(orphan, new MemoryStream([1]), CancellationToken.None);
        await Store.WritePendingAsync(committed, new MemoryStream([2]), CancellationToken.None);
        await Store.CommitAsync(committed, CancellationToken.None);

        Time.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal((0, 0), await sweeper.SweepOnceAsync(CancellationToken.None));

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal((1, 0), await sweeper.SweepOnceAsync(CancellationToken.None));
        Assert.Equal([2], await ReadAsync(committed));

        Time.Advance(TimeSpan.FromHours(23));
        Assert.Equal((0, 1), await sweeper.SweepOnceAsync(CancellationToken.None));
        Assert.Empty(await ListAsync());
    }

    protected async Task<byte[]> ReadAsync(string id)
    {
        var stream = await Store.OpenReadAsync(id, CancellationToken.None);
        Assert.NotNull(stream);
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    internal async Task<List<ClaimCheckBlob>> ListAsync()
    {
        var blobs = new List<ClaimCheckBlob>();
        await foreach (var blob in Store.ListAsync(CancellationToken.None))
        {
            blobs.Add(blob);
        }

        return blobs;
    }
}
