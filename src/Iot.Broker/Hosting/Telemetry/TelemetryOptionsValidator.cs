using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>Refuses at start-up an OTLP endpoint that is not an absolute http(s) URL, or an export interval out of range.</summary>
internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.OtlpEndpoint is { } endpoint && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)))
        {
            failures.Add($"{TelemetryOptions.SectionName}:OtlpEndpoint must be an absolute http or https URL (was '{endpoint}').");
        }

        if (options.OtlpExportInterval < TimeSpan.FromSeconds(1) || options.OtlpExportInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{TelemetryOptions.SectionName}:OtlpExportInterval must be between 00:00:01 and 01:00:00 (was {options.OtlpExportInterval}).");
        }

        if (options.TraceSampleRatio is < 0 or > 1 || double.IsNaN(options.TraceSampleRatio))
        {
            failures.Add($"{TelemetryOptions.SectionName}:TraceSampleRatio must be between 0 and 1 (was {options.TraceSampleRatio}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
