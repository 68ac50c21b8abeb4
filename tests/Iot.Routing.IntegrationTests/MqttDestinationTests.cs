namespace Iot.Routing.IntegrationTests;

/// <summary>Finding 12 of issue 16 in the routing layer alone (no access control: only the <c>$</c> rule applies).</summary>
[Trait("Category", "Integration")]
public sealed class MqttDestinationTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData("$SYS/x")]
    [InlineData("$commands/dev-a")]
    public async Task Create_DollarTopic_403(string topic)
    {
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        var (status, problem) = await host.PostJsonAsync("subscriptions", $$$"""{"name":"sys","destination":{"kind":"mqtt","topic":"{{{topic}}}"}}""");

        Assert.Equal(403, status);
        Assert.Contains("topics starting with '$'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await host.PublishAsync("devices/d1/events/a", "{}");
        Assert.Empty(host.Mqtt.Published);
    }

    [Fact]
    public async Task Create_OrdinaryTopic_WithoutAccessControl_Allowed()
    {
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync("""{"name":"alerts","destination":{"kind":"mqtt","topic":"alerts/all"}}""");
        await host.PublishAsync("devices/d1/events/a", "{}");
        Assert.Equal("alerts/all", Assert.Single(host.Mqtt.Published).Topic);
    }
}
