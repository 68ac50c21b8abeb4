namespace Iot.Routing.Queues;

/// <summary>The outcome of sending one message.</summary>
/// <param name="SequenceNumber">The message's sequence number (that of the original when <paramref name="Duplicate"/>, when still present; else 0).</param>
/// <param name="Duplicate">True when a message with the same id was sent within the duplicate detection window: nothing was stored.</param>
public readonly record struct SendResult(long SequenceNumber, bool Duplicate);
