using Azure.Storage.Blobs;
using Iot.Routing.ClaimCheck;
using Iot.TestUtilities;

namespace Iot.Routing.Tests.ClaimCheck;

/// <summary>The store contract on Azure Blob Storage, emulated by a real Azurite, and the SAS URL it hands out.</summary>
[Trait("Category", "Integration")]
public sealed class AzureBlobClaimCheckStoreTests : ClaimCheckStoreContractTests, IClassFixture<AzuriteFixture>
{
    private readonly AzuriteFixture _azurite;
    private readonly string _container = "t" + Guid.NewGuid().ToString("N");

    public AzureBlobClaimCheckStoreTests(AzuriteFixture azurite) => _azurite = azurite;

    internal override IClaimCheckStore CreateStore() =>
        new AzureBlobClaimCheckStore(new BlobContainerClient(_azurite.ConnectionString, _container), Time);

    [Fact]
    public async Task CreateReadUri_CommittedBlob_ReadsItWithoutOtherCredentials()
    {
        var payload = System.Security.Cryptography.RandomNumberGenerator.GetBytes(300_000);
        var id = ClaimCheckIds.New();
        await Store.WritePendingAsync(id, new MemoryStream(payload), CancellationToken.None);
        await Store.CommitAsync(id, CancellationToken.None);

        // The SAS is checked against the emulator's real clock, so it must outlive now, not the test's fake time.
        var uri = Store.CreateReadUri(id, DateTimeOffset.UtcNow.AddMinutes(10));

        Assert.NotNull(uri);
        Assert.Contains("sig=", uri.Query, StringComparison.Ordinal);
        using var http = new HttpClient();
        Assert.Equal(payload, await http.GetByteArrayAsync(uri));
    }

    [Fact]
    public async Task CreateReadUri_Expired_IsRefused()
    {
        var id = ClaimCheckIds.New();
        await Store.WritePendingAsync(id, new MemoryStream([1]), CancellationToken.None);
        await Store.CommitAsync(id, CancellationToken.None);

        var uri = Store.CreateReadUri(id, DateTimeOffset.UtcNow.AddMinutes(-1));

        using var http = new HttpClient();
        using var response = await http.GetAsync(uri);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
    }
}
