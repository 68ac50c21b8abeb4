using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Streams;

/// <summary>One real influxd (see <see cref="InfluxFixture"/>) shared by the broker's InfluxDB tests.</summary>
[CollectionDefinition(Name)]
public sealed class InfluxdCollectionDefinition : ICollectionFixture<InfluxFixture>
{
    public const string Name = "influxd (broker)";
}
