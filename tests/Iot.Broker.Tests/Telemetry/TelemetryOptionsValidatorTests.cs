using Iot.Broker.Hosting.Telemetry;

namespace Iot.Broker.Tests.Telemetry;

/// <summary>A bad <c>Iot:Telemetry</c> value stops the start with a message naming the key.</summary>
public sealed class TelemetryOptionsValidatorTests
{
    private readonly TelemetryOptionsValidator _validator = new();

    [Fact]
    public void Validate_Defaults_Succeeds() => Assert.True(_validator.Validate(null, new TelemetryOptions()).Succeeded);

    [Fact]
    public void Validate_HttpEndpointAndIntervalInRange_Succeeds() =>
        Assert.True(_validator.Validate(null, new TelemetryOptions { OtlpEndpoint = new Uri("http://collector:4318"), OtlpExportInterval = TimeSpan.FromSeconds(1) }).Succeeded);

    [Theory]
    [InlineData("ftp://collector:4318", 15, "Iot:Telemetry:OtlpEndpoint")]
    [InlineData("collector", 15, "Iot:Telemetry:OtlpEndpoint")]
    [InlineData("http://collector:4318", 0, "Iot:Telemetry:OtlpExportInterval")]
    [InlineData("http://collector:4318", 7200, "Iot:Telemetry:OtlpExportInterval")]
    public void Validate_OutOfRange_FailsNamingTheKey(string endpoint, int intervalSeconds, string key)
    {
        var result = _validator.Validate(null, new TelemetryOptions
        {
            OtlpEndpoint = new Uri(endpoint, UriKind.RelativeOrAbsolute),
            OtlpExportInterval = TimeSpan.FromSeconds(intervalSeconds),
        });

        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
    }
}
