namespace Iot.Routing.Queues;

/// <summary>How a receive takes messages.</summary>
public enum ReceiveMode
{
    /// <summary>Locks the messages; the receiver completes, abandons, dead-letters or defers them.</summary>
    PeekLock = 0,

    /// <summary>Deletes the messages as they are handed out (at most once).</summary>
    ReceiveAndDelete = 1,
}
