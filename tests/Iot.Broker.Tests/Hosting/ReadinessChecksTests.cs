using Iot.Broker.Hosting;
using Iot.Broker.Hosting.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Hosting;

/// <summary>Issue 20: the readiness checks, each on its own.</summary>
public sealed class ReadinessChecksTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "iot-ready-" + Guid.NewGuid().ToString("N"));

    public ReadinessChecksTests() => Directory.CreateDirectory(_root);

    [Fact]
    public async Task DataDirectory_Writable_IsHealthy_AndLeavesNoProbeBehind()
    {
        var result = await Check(_root, minFree: 0);
        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    [Fact]
    public async Task DataDirectory_NotWritable_IsUnhealthy()
    {
        // A directory under a regular file cannot exist, whoever runs the test (root included).
        var file = Path.Combine(_root, "file");
        await File.WriteAllTextAsync(file, "x");
        var result = await Check(Path.Combine(file, "data"), minFree: 0);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("cannot be written", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DataDirectory_LessFreeSpaceThanTheThreshold_IsUnhealthy()
    {
        var result = await Check(_root, minFree: long.MaxValue);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("Iot:Health:MinFreeDiskBytes", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drain_TurnsUnhealthyWhenTheHostStartsStopping()
    {
        using var lifetime = new Lifetime();
        var check = new DrainHealthCheck(lifetime);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        lifetime.StopApplication();
        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static Task<HealthCheckResult> Check(string dataDir, long minFree) =>
        new DataDirectoryHealthCheck(Options.Create(new IotOptions { DataDir = dataDir }), Options.Create(new HealthOptions { MinFreeDiskBytes = minFree }))
            .CheckHealthAsync(new HealthCheckContext());

    private sealed class Lifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => _stopping.Cancel();

        public void Dispose() => _stopping.Dispose();
    }
}
