using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting;

/// <summary>Settings under <c>Iot</c>.</summary>
public sealed class IotOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot";

    /// <summary>Directory for durable state (sessions, retained messages, queues, streams).</summary>
    /// <remarks>Default <c>./data</c>, relative to the working directory; created when missing.</remarks>
    [Required]
    public string DataDir { get; set; } = "./data";

    /// <summary>Optional path of a JSON file the broker writes with the ports it bound (for scripts and tests).</summary>
    /// <remarks>Default none.</remarks>
    public string? PortsFile { get; set; }
}
