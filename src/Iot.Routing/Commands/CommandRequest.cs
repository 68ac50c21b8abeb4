namespace Iot.Routing.Commands;

/// <summary>A command to send (the HTTP API's request).</summary>
internal sealed record CommandRequest(string DeviceId, string Name, ReadOnlyMemory<byte> Payload, string? ContentType = null,
    TimeSpan? TimeToLive = null, string? MessageId = null, string? ReplyQueue = null, string? ReplySessionId = null,
    string? CommandId = null);
