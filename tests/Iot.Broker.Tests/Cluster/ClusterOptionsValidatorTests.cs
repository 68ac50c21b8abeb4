using Iot.Broker.Cluster;

namespace Iot.Broker.Tests.Cluster;

public sealed class ClusterOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_Succeed() =>
        Assert.True(new ClusterOptionsValidator().Validate(null, new ClusterOptions()).Succeeded);

    [Theory]
    [InlineData(1000, 2000)]
    [InlineData(1000, 1500)]
    [InlineData(3000, 5000)]
    public void Validate_NodeTimeoutNotAboveTwoHeartbeats_FailsNamingBoth(int heartbeatMs, int timeoutMs)
    {
        var result = new ClusterOptionsValidator().Validate(null, new ClusterOptions
        {
            HeartbeatInterval = TimeSpan.FromMilliseconds(heartbeatMs),
            NodeTimeout = TimeSpan.FromMilliseconds(timeoutMs),
        });

        Assert.True(result.Failed);
        Assert.Contains("Iot:Cluster:NodeTimeout", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Iot:Cluster:HeartbeatInterval", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NodeTimeoutJustAboveTwoHeartbeats_Succeeds() =>
        Assert.True(new ClusterOptionsValidator().Validate(null, new ClusterOptions
        {
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            NodeTimeout = TimeSpan.FromMilliseconds(2001),
        }).Succeeded);

    [Theory]
    [InlineData(10_000, 5_001)]
    [InlineData(1_000, 600)]
    public void Validate_LeaseSafetyMarginOverHalfTheDuration_FailsNamingBoth(int durationMs, int marginMs)
    {
        var result = new ClusterOptionsValidator().Validate(null, new ClusterOptions
        {
            LeaseDuration = TimeSpan.FromMilliseconds(durationMs),
            LeaseSafetyMargin = TimeSpan.FromMilliseconds(marginMs),
        });

        Assert.True(result.Failed);
        Assert.Contains("Iot:Cluster:LeaseSafetyMargin", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Iot:Cluster:LeaseDuration", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_LeaseSafetyMarginHalfTheDuration_Succeeds() =>
        Assert.True(new ClusterOptionsValidator().Validate(null, new ClusterOptions
        {
            LeaseDuration = TimeSpan.FromSeconds(4),
            LeaseSafetyMargin = TimeSpan.FromSeconds(2),
        }).Succeeded);
}
