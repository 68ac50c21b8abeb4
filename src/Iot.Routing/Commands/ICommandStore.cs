using Iot.Routing.Queues;

namespace Iot.Routing.Commands;

/// <summary>
/// The records of device commands (status, delivery count, answer) beside the queue that carries them to devices
/// (<see cref="CommandService.QueueName"/>). The queue message is the truth about a pending command; the record keeps
/// what outlives it (the answer, the final status) and the <c>messageId</c> for duplicate detection.
/// </summary>
/// <remarks>
/// An implementation writes a command's record together with its queue message, and an answer together with its reply
/// message, in the queue store it belongs to: atomically where the storage allows (SQLite: one file and one
/// transaction), else in an order after which a crash between two writes loses nothing acknowledged and leaves nothing
/// undeliverable (JetStream: <see cref="JetStreamCommandStore"/>). Every task completes when its
/// change is durable. A record is final once <see cref="CommandRecord.IsFinal"/>; the updates that take a pending record
/// to a final one change nothing on a final record and return false.
/// </remarks>
internal interface ICommandStore
{
    /// <summary>The reason of a record found at start without its queue message (written by a version before 1 transaction).</summary>
    const string IncompleteReason = "IncompleteWrite";

    /// <summary>
    /// Records a new command and enqueues its message atomically, unless the device has one with the same message id
    /// created after <paramref name="duplicatesSince"/>: then that one is returned with <c>Duplicate</c> true. A
    /// duplicate without its queue message (a record from before commands were written atomically) gets its message
    /// now, so the retry that finds it completes it instead of acknowledging a command that nothing would deliver.
    /// </summary>
    /// <param name="record">The new command.</param>
    /// <param name="duplicatesSince">Records created after this (Unix ms) count as duplicates.</param>
    /// <param name="messageFor">The queue message of the command that is written (the new one, or the duplicate completed).</param>
    Task<(CommandRecord Record, bool Duplicate)> CreateAsync(CommandRecord record, long duplicatesSince, Func<CommandRecord, QueueMessage> messageFor);

    /// <summary>
    /// The start-up scan: a pending record without a queue message (written by an earlier version, which wrote the two
    /// apart) is linked to its message when that exists, and otherwise marked dead-lettered with
    /// <see cref="IncompleteReason"/> (its payload is gone); a retry with its message id re-queues it.
    /// </summary>
    /// <returns>The records it linked and those it marked.</returns>
    Task<(List<CommandRecord> Linked, List<CommandRecord> Incomplete)> RepairAsync(long now);

    /// <summary>Records a command found in the queue without a record (sent just before a crash); the existing record when there is one.</summary>
    Task<CommandRecord> GetOrCreateAsync(CommandRecord record);

    /// <summary>The record of <paramref name="commandId"/>; null when unknown.</summary>
    Task<CommandRecord?> GetAsync(string commandId);

    /// <summary>Marks a pending command Delivered (PUBACK) with its delivery count; false when it is final already.</summary>
    Task<bool> SetDeliveredAsync(string commandId, int deliveryCount, long now);

    /// <summary>
    /// Records the final outcome of a pending command (a null <paramref name="deliveryCount"/> keeps the count);
    /// false when it was final already (a repeated answer).
    /// </summary>
    Task<bool> SetFinalAsync(string commandId, CommandStatus status, byte[]? answer, string? contentType, string? reason, string? description,
        int? deliveryCount, long now);

    /// <summary>Validates the reply to a command's answer for <paramref name="queue"/>, ready for <see cref="AnswerAsync"/>.</summary>
    /// <exception cref="QueueException">The reply cannot go to that queue (e.g. it requires sessions and has none).</exception>
    IPreparedReply PrepareReply(string queue, QueueMessage reply);

    /// <summary>
    /// Records a device's answer as the final status of its pending command and, atomically with it, enqueues
    /// <paramref name="reply"/> (from <see cref="PrepareReply"/>): both are durable or neither, so a crash before the
    /// commit makes the device resend an answer that finds nothing written. The check that the command is still pending
    /// is part of that step: a resent (or concurrent second) answer writes nothing. The delivery count becomes that of
    /// the command's queue message.
    /// </summary>
    /// <returns>True when the answer was recorded; false when the command is final already, unknown, or another device's.</returns>
    Task<bool> AnswerAsync(string commandId, string deviceId, CommandStatus status, byte[] answer, string? contentType, long now, IPreparedReply? reply);

    /// <summary>
    /// Completes with the final record when the record of <paramref name="commandId"/> became final through another
    /// process (a cluster's other nodes), or with null when <paramref name="cancellationToken"/> is cancelled; never
    /// fails. A store that only this process writes completes only on cancellation (the service learns of its own
    /// answers directly).
    /// </summary>
    Task<CommandRecord?> WaitForFinalAsync(string commandId, CancellationToken cancellationToken);
}
