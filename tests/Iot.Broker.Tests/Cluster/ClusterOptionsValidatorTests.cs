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
}
