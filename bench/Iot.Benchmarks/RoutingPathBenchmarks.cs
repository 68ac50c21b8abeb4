using BenchmarkDotNet.Attributes;
using Iot.Broker.Security;
using Iot.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Benchmarks;

/// <summary>
/// The per-message checks the broker adds to a publish in its default configuration, on the real services of an
/// in-process broker: the routing offer (<see cref="IMessageRouter.RouteAsync"/>) of a message that only the default
/// route matches (no event subscriptions, so nothing durable), and the compiled topic ACL of a connection.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // Disposed in the [GlobalCleanup] method.
public class RoutingPathBenchmarks
#pragma warning restore CA1001
{
    private InProcessBroker _broker = null!;
    private IMessageRouter _router = null!;
    private IPrincipalAcl _deviceAcl = null!;
    private IPrincipalAcl _anonymousAcl = null!;
    private RoutedMessage _message = null!;

    /// <summary>Starts the broker and resolves its services.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _broker = new InProcessBroker();
        _router = _broker.Services.GetRequiredService<IMessageRouter>();
        var acl = _broker.Services.GetRequiredService<IAccessControl>();
        _deviceAcl = acl.Compile(new IotPrincipal("d1", "d1", IdentityRole.Device));
        _anonymousAcl = acl.Compile(new IotPrincipal("bench-pub", null, null));
        _message = new RoutedMessage
        {
            Topic = "bench/fanin/p1",
            Payload = new byte[64],
            SourceClientId = "bench-pub",
            ReceivedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>Stops the broker.</summary>
    [GlobalCleanup]
    public void Cleanup() => _broker.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Routing offer of a message only the default route matches (no subscriptions).</summary>
    [Benchmark]
    public Task RouteDefaultOnly() => _router.RouteAsync(_message);

    /// <summary>A device's publish to its own telemetry topic against the default ACL rules.</summary>
    [Benchmark]
    public bool AclDeviceTelemetry() => _deviceAcl.CanPublish("devices/d1/telemetry");

    /// <summary>An anonymous publish (AllowAnonymous) against the default ACL rules.</summary>
    [Benchmark]
    public bool AclAnonymous() => _anonymousAcl.CanPublish("bench/fanin/p1");
}
