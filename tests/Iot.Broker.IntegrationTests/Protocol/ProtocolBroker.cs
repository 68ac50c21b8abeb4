using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>One broker shared by the protocol tests; tests that need other limits start their own.</summary>
[CollectionDefinition(Name)]
public sealed class ProtocolBroker : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Protocol";
}
