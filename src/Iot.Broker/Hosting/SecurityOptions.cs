namespace Iot.Broker.Hosting;

/// <summary>Settings under <c>Iot:Security</c>.</summary>
public sealed class SecurityOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Security";

    /// <summary>Lets clients connect without credentials and use any topic (local development only).</summary>
    /// <remarks>Default false; the development profile turns it on and the broker logs a warning when it is.</remarks>
    public bool AllowAnonymous { get; set; }
}
