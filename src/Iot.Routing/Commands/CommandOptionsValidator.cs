using Microsoft.Extensions.Options;

namespace Iot.Routing.Commands;

/// <summary>Checks <see cref="CommandOptions"/> at start-up; each failure names the setting.</summary>
internal sealed class CommandOptionsValidator : IValidateOptions<CommandOptions>
{
    public ValidateOptionsResult Validate(string? name, CommandOptions options)
    {
        var failures = new List<string>();
        if (options.AnswerTimeout < TimeSpan.FromSeconds(1) || options.AnswerTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add("Iot:Commands:AnswerTimeout must be between 00:00:01 and 00:05:00.");
        }

        if (options.MaxDeliveryCount is < 1 or > 100)
        {
            failures.Add("Iot:Commands:MaxDeliveryCount must be between 1 and 100.");
        }

        if (options.MaxTimeToLive < TimeSpan.FromSeconds(1) || options.MaxTimeToLive > TimeSpan.FromDays(7))
        {
            failures.Add("Iot:Commands:MaxTimeToLive must be between 00:00:01 and 7.00:00:00.");
        }

        if (options.DefaultTimeToLive < TimeSpan.FromSeconds(1) || options.DefaultTimeToLive > options.MaxTimeToLive)
        {
            failures.Add("Iot:Commands:DefaultTimeToLive must be between 00:00:01 and Iot:Commands:MaxTimeToLive.");
        }

        if (options.DuplicateDetectionWindow < TimeSpan.Zero || options.DuplicateDetectionWindow > TimeSpan.FromDays(7))
        {
            failures.Add("Iot:Commands:DuplicateDetectionWindow must be between 00:00:00 and 7.00:00:00.");
        }

        if (options.MaxWait < TimeSpan.FromSeconds(1) || options.MaxWait > TimeSpan.FromMinutes(30))
        {
            failures.Add("Iot:Commands:MaxWait must be between 00:00:01 and 00:30:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
