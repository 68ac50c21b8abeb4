using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting.Drain;

/// <summary>How the broker stops on SIGTERM (<c>Iot:Shutdown</c>; docs/configuration.md, docs/operations.md "Graceful stop").</summary>
public sealed class ShutdownOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Shutdown";

    /// <summary>
    /// Time between readiness turning unhealthy and the listeners closing, so that a load balancer polling
    /// <c>/healthz/ready</c> sends no new client before the node stops accepting. Default 0: a load balancer that
    /// sees the listener close moves on anyway; Kubernetes users set a few seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ReadinessDelay { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Time the work in flight at SIGTERM has to finish (durable writes, webhook attempts, deliveries to connected
    /// clients) once the listeners close; what is still running then is abandoned, as after a crash (nothing
    /// acknowledged is lost: it is redelivered after the restart). Default 30 s, the host's own default.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
