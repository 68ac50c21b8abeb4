using Iot.Routing.ClaimCheck;
using Iot.TestUtilities;

namespace Iot.Routing.Tests.ClaimCheck;

/// <summary>The store contract on a local directory, and what only that store does.</summary>
public sealed class LocalDirectoryClaimCheckStoreTests : ClaimCheckStoreContractTests, IDisposable
{
    private readonly TempDirectory _dir = new("iot-claimcheck");

    internal override IClaimCheckStore CreateStore() => new LocalDirectoryClaimCheckStore(_dir.Path, Time);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task WritePendingAsync_StaysUnderPendingUntilCommitted()
    {
        var id = ClaimCheckIds.New();
        await Store.WritePendingAsync(id, new MemoryStream([1, 2]), CancellationToken.None);
        Assert.True(File.Exists(_dir.Combine("pending", id)));
        Assert.False(File.Exists(_dir.Combine("blobs", id)));

        await Store.CommitAsync(id, CancellationToken.None);

        Assert.False(File.Exists(_dir.Combine("pending", id)));
        Assert.Equal([1, 2], await File.ReadAllBytesAsync(_dir.Combine("blobs", id)));
    }

    [Fact]
    public void CreateReadUri_LocalStore_HasNoUrlOfItsOwn() =>
        Assert.Null(Store.CreateReadUri(ClaimCheckIds.New(), Time.GetUtcNow().AddMinutes(5)));

    [Fact]
    public async Task ListAsync_IgnoresFilesThatAreNotBlobs()
    {
        await File.WriteAllTextAsync(_dir.Combine("blobs", "notes.txt"), "x");

        Assert.Empty(await ListAsync());
    }
}
