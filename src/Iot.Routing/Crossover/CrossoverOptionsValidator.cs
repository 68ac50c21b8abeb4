using Iot.Messaging.Crossover;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Crossover;

/// <summary>Refuses bad <c>Iot:Crossover</c> settings at start-up, naming each key.</summary>
internal sealed class CrossoverOptionsValidator : IValidateOptions<CrossoverOptions>
{
    public ValidateOptionsResult Validate(string? name, CrossoverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate().ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
