using Iot.Routing.ClaimCheck;

namespace Iot.Routing.Tests.ClaimCheck;

/// <summary>Bad claim-check settings fail the start with a message that names the setting.</summary>
public sealed class ClaimCheckOptionsValidatorTests
{
    [Fact]
    public void Validate_Disabled_AcceptsAnything() =>
        Assert.True(new ClaimCheckOptionsValidator(clusterConfigured: true).Validate(null, new ClaimCheckOptions { ThresholdBytes = -1 }).Succeeded);

    [Fact]
    public void Validate_Defaults_Succeed() =>
        Assert.True(new ClaimCheckOptionsValidator(false).Validate(null, new ClaimCheckOptions { Enabled = true }).Succeeded);

    [Fact]
    public void Validate_LocalStoreInCluster_FailsNamingBothSettings()
    {
        var result = new ClaimCheckOptionsValidator(clusterConfigured: true).Validate(null, new ClaimCheckOptions { Enabled = true });

        var failure = Assert.Single(result.Failures!);
        Assert.Contains("Iot:ClaimCheck:Store is Local", failure, StringComparison.Ordinal);
        Assert.Contains("Iot:Cluster:Nats:Url", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AzureInCluster_Succeeds() =>
        Assert.True(new ClaimCheckOptionsValidator(clusterConfigured: true).Validate(null, new ClaimCheckOptions
        {
            Enabled = true,
            Store = ClaimCheckStoreKind.AzureBlob,
            AzureConnectionString = "UseDevelopmentStorage=true",
        }).Succeeded);

    [Fact]
    public void Validate_BadValues_NameEachSetting()
    {
        var result = new ClaimCheckOptionsValidator(false).Validate(null, new ClaimCheckOptions
        {
            Enabled = true,
            ThresholdBytes = 10,
            Topics = ["files/#/x", "$share/g/a"],
            Store = ClaimCheckStoreKind.AzureBlob,
            AzureContainer = "Bad_Name",
            UrlLifetime = TimeSpan.Zero,
            Retention = TimeSpan.FromHours(1),
            OrphanGracePeriod = TimeSpan.FromHours(2),
            SweepInterval = TimeSpan.FromDays(2),
            PublicBaseUrl = new Uri("ftp://example.com"),
        });

        var text = string.Join("\n", result.Failures!);
        foreach (var setting in new[]
        {
            "ThresholdBytes", "Topics:0", "Topics:1", "AzureConnectionString", "AzureContainer", "UrlLifetime", "OrphanGracePeriod",
            "SweepInterval", "PublicBaseUrl",
        })
        {
            Assert.Contains("Iot:ClaimCheck:" + setting, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_NothingToClaimCheck_Fails() =>
        Assert.Contains("nothing to claim-check", Assert.Single(new ClaimCheckOptionsValidator(false)
            .Validate(null, new ClaimCheckOptions { Enabled = true, QueueSends = false }).Failures!), StringComparison.Ordinal);
}
