namespace Iot.Routing.Commands;

/// <summary>What became of a device command.</summary>
public enum CommandStatus
{
    /// <summary>Waiting in the device's command queue (device offline, or earlier commands ahead).</summary>
    Queued = 0,

    /// <summary>The device acknowledged it (PUBACK) and its answer is awaited.</summary>
    Delivered = 1,

    /// <summary>The device answered.</summary>
    Completed = 2,

    /// <summary>The device answered with a failure status.</summary>
    Failed = 3,

    /// <summary>Its time to live ended before the device answered.</summary>
    Expired = 4,

    /// <summary>Given up (e.g. <c>MaxDeliveryCountExceeded</c>): it is in the command dead-letter queue.</summary>
    DeadLettered = 5,
}
