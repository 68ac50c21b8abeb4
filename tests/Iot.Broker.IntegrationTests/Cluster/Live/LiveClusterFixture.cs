namespace Iot.Broker.IntegrationTests.Cluster.Live;

/// <summary>
/// Three NATS servers and three broker nodes in cluster mode, shared by the live-path tests of one class (each test uses
/// its own topics). Anonymous clients may also publish and subscribe under <c>$x/</c>, so that a <c>$</c> topic can be sent.
/// </summary>
public sealed class LiveClusterFixture() : BrokersOnNatsFixture(
    3,
    "--Iot:Security:Acl:Rules:0:Permission=allow",
    "--Iot:Security:Acl:Rules:0:Action=all",
    "--Iot:Security:Acl:Rules:0:Role=anonymous",
    "--Iot:Security:Acl:Rules:0:Topic=$x/#");
