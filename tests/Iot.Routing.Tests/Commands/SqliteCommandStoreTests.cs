using Iot.Routing.Commands;
using Iot.Routing.Queues;
using Iot.Routing.Tests.Internal;

namespace Iot.Routing.Tests.Commands;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class SqliteCommandStoreTests : CommandStoreContractTests
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();

    private protected override (IQueueStore Queues, ICommandStore Commands) CreateStores()
    {
        var queues = new SqliteQueueStore(Path.Combine(_directory.Path, "queues.db"), Time);
        return (queues, new SqliteCommandStore(queues));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }
}
