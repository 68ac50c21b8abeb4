using Iot.TestUtilities;

namespace Iot.Streams.Tests.Sinks;

/// <summary>One real influxd (see <see cref="InfluxFixture"/>) shared by the sink tests.</summary>
[CollectionDefinition(Name)]
public sealed class InfluxServer : ICollectionFixture<InfluxFixture>
{
    public const string Name = "influxd";
}
