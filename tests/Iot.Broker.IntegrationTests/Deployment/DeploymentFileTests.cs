using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Deployment;

/// <summary>
/// docker-compose.yml and the Dockerfiles, checked without a Docker engine (none runs on these machines): the compose
/// file through Debian's docker-compose, each Dockerfile's build stage through scripts/check-dockerfile.sh.
/// </summary>
public sealed class DeploymentFileTests
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task DockerCompose_Config_IsValid()
    {
        var compose = ExternalClients.RequireTool("docker-compose", "docker-compose");

        var result = await ChildProcess.RunAsync(compose, ["config", "--quiet"], TimeSpan.FromSeconds(60), RepositoryPaths.Root);

        Assert.True(result.ExitCode == 0, $"docker-compose.yml does not validate:\n{result}");
    }

    [Fact]
    public async Task DockerCompose_Services_AreTheOnesTheReadmePromises()
    {
        var compose = ExternalClients.RequireTool("docker-compose", "docker-compose");

        var result = await ChildProcess.RunAsync(compose, ["config", "--services"], TimeSpan.FromSeconds(60), RepositoryPaths.Root);

        Assert.True(result.ExitCode == 0, result.ToString());
        var services = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["broker", "grafana", "influxdb", "prometheus", "simulator"], services.Order(StringComparer.Ordinal));
    }

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData("src/Iot.Broker/Dockerfile", "Iot.Broker.dll")]
    [InlineData("devices/simulator/Dockerfile", "iot-simulator.dll")]
    public async Task Dockerfile_BuildStage_PublishesTheEntryPoint(string dockerfile, string entryPoint)
    {
        var script = Path.Combine(RepositoryPaths.Root, "scripts", "check-dockerfile.sh");

        var result = await ChildProcess.RunAsync("bash", [script, dockerfile], BuildTimeout, RepositoryPaths.Root);

        Assert.True(result.ExitCode == 0, $"The build stage of {dockerfile} failed:\n{result}");
        Assert.Contains($"built /app/{entryPoint}", result.StandardOutput, StringComparison.Ordinal);
    }
}
