namespace Iot.Routing.Commands;

/// <summary>Settings of device commands, bound from <c>Iot:Commands</c>.</summary>
public sealed class CommandOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Commands";

    /// <summary>How long the device has to answer a delivered command before it is delivered again (the command queue's lock duration).</summary>
    /// <remarks>Default 60 s, range 1 s to 5 min.</remarks>
    public TimeSpan AnswerTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Deliveries after which an unanswered command is dead-lettered (<c>MaxDeliveryCountExceeded</c>).</summary>
    /// <remarks>Default 10, range 1 to 100.</remarks>
    public int MaxDeliveryCount { get; set; } = 10;

    /// <summary>Time to live of commands sent without <c>ttl</c>.</summary>
    /// <remarks>Default 1 h (IoT Hub's), range 1 s to 7 days; also the largest <c>ttl</c> accepted.</remarks>
    public TimeSpan DefaultTimeToLive { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Largest <c>ttl</c> a command may ask for.</summary>
    /// <remarks>Default 2 days, range 1 s to 7 days.</remarks>
    public TimeSpan MaxTimeToLive { get; set; } = TimeSpan.FromDays(2);

    /// <summary>How long a command's <c>messageId</c> is remembered: the same id within it runs once.</summary>
    /// <remarks>Default 10 min, range 0 (off) to 7 days.</remarks>
    public TimeSpan DuplicateDetectionWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest <c>wait</c> accepted by <c>POST /api/devices/{id}/commands/{name}</c>.</summary>
    /// <remarks>Default 5 min, range 1 s to 30 min.</remarks>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMinutes(5);
}
