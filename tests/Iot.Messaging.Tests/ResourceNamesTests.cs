namespace Iot.Messaging.Tests;

public sealed class ResourceNamesTests
{
    [Theory]
    [InlineData("dev-1")]
    [InlineData("a")]
    [InlineData("Sensor_01.floor:2")]
    [InlineData("aggregate.t10")]
    public void Validate_ValidName_Null(string name) => Assert.Null(ResourceNames.Validate(name));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData(" ")]
    [InlineData("dev 1")]
    [InlineData("dev\t1")]
    [InlineData("dev\u200F1")]
    [InlineData("\u202Edev")]
    [InlineData("dev\u00001")]
    [InlineData("$commands")]
    [InlineData("a\\b")]
    [InlineData("a/b")]
    [InlineData("a+b")]
    [InlineData("a#")]
    [InlineData("-dev")]
    [InlineData("dév")]
    public void Validate_InvalidName_SaysWhy(string? name) => Assert.NotNull(ResourceNames.Validate(name, "device id"));

    [Fact]
    public void Validate_Length_128OrTheKindsLimit()
    {
        Assert.Null(ResourceNames.Validate(new string('x', 128)));
        Assert.Contains("128", ResourceNames.Validate(new string('x', 129)), StringComparison.Ordinal);
        Assert.Contains("64", ResourceNames.Validate(new string('x', 65), "stream name", 64), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("commands/ /reboot", true)]
    [InlineData("commands/$commands/reboot", true)]
    [InlineData("commands/../reboot", true)]
    [InlineData("commands/dev-1/reboot/ c", true)]
    [InlineData("commands/dev-1/reboot", false)]
    [InlineData("commands/dev-1/reboot/c-1", false)]
    [InlineData("devices/ /telemetry", false)]
    public void IsInvalidCommandSubmission(string topic, bool invalid) => Assert.Equal(invalid, ResourceNames.IsInvalidCommandSubmission(topic));
}
