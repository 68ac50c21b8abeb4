using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests;

/// <summary>The broker that the mosquitto_pub / mosquitto_sub tests share.</summary>
[CollectionDefinition(Name)]
public sealed class MosquittoClientsCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "mosquitto clients";
}

/// <summary>The broker that the MQTT.js tests share.</summary>
[CollectionDefinition(Name)]
public sealed class MqttJsCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "MQTT.js";
}

/// <summary>The broker that the HTTP operations tests share.</summary>
[CollectionDefinition(Name)]
public sealed class OperationsCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "operations endpoints";
}

/// <summary>Tests that run the built broker as a child process (no shared broker).</summary>
[CollectionDefinition(Name)]
public sealed class BrokerProcessCollectionDefinition
{
    public const string Name = "broker process";
}
