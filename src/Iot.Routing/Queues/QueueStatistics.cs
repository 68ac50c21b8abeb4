namespace Iot.Routing.Queues;

/// <summary>Counts of a queue's messages.</summary>
/// <param name="Active">Messages available or locked (not scheduled, deferred or dead-lettered).</param>
/// <param name="Scheduled">Messages whose scheduled enqueue time is still ahead.</param>
/// <param name="Deferred">Deferred messages, received only by sequence number.</param>
/// <param name="DeadLettered">Messages in the dead-letter queue.</param>
/// <param name="OldestActiveAge">Age of the oldest active message; zero when there is none.</param>
public sealed record QueueStatistics(long Active, long Scheduled, long Deferred, long DeadLettered, TimeSpan OldestActiveAge);
