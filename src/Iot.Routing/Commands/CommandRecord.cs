namespace Iot.Routing.Commands;

/// <summary>A command as stored: what was asked, and what became of it.</summary>
internal sealed record CommandRecord
{
    public required string CommandId { get; init; }

    public required string DeviceId { get; init; }

    public required string Name { get; init; }

    public required string MessageId { get; init; }

    public long? SequenceNumber { get; init; }

    public CommandStatus Status { get; init; }

    public int DeliveryCount { get; init; }

    public long CreatedAt { get; init; }

    public long UpdatedAt { get; init; }

    public long ExpiresAt { get; init; }

    public string? ReplyQueue { get; init; }

    public string? ReplySessionId { get; init; }

    public byte[]? Answer { get; init; }

    public string? AnswerContentType { get; init; }

    public string? Reason { get; init; }

    public string? Description { get; init; }

    public bool IsFinal => Status is CommandStatus.Completed or CommandStatus.Failed or CommandStatus.DeadLettered or CommandStatus.Expired;
}
