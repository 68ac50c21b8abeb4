using Iot.Broker.Hosting;
using Iot.Broker.Hosting.Drain;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Hosting;

/// <summary>Issue 20, graceful drain: the readiness delay and the host's shutdown timeout from <c>Iot:Shutdown</c>.</summary>
public sealed class DrainServiceTests
{
    [Fact]
    public async Task Stopping_WaitsTheReadinessDelay_OnTheTimeProvider()
    {
        var time = new FakeTimeProvider();
        var drain = new DrainService(Options.Create(new ShutdownOptions { ReadinessDelay = TimeSpan.FromSeconds(5) }), new BrokerMetrics(), time,
            NullLogger<DrainService>.Instance);

        var stopping = drain.StoppingAsync(CancellationToken.None);
        Assert.False(stopping.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(stopping.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Stopping_ShutdownTimeoutRunsOutDuringTheDelay_StopsAtOnce()
    {
        var drain = new DrainService(Options.Create(new ShutdownOptions { ReadinessDelay = TimeSpan.FromMinutes(5) }), new BrokerMetrics(),
            new FakeTimeProvider(), NullLogger<DrainService>.Instance);
        using var timeout = new CancellationTokenSource();

        var stopping = drain.StoppingAsync(timeout.Token);
        await timeout.CancelAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData(null, null, 30)]
    [InlineData("00:00:05", "00:01:00", 65)]
    public void HostShutdownTimeout_IsTheReadinessDelayPlusTheDrainTimeout(string? readinessDelay, string? drainTimeout, int expectedSeconds)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Iot:Shutdown:ReadinessDelay"] = readinessDelay,
            ["Iot:Shutdown:DrainTimeout"] = drainTimeout,
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Where(s => s.Value is not null)).Build();
        var services = new ServiceCollection().AddLogging().AddIotBroker(configuration);
        using var provider = services.BuildServiceProvider();

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), provider.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }
}
