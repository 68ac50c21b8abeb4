namespace Iot.Messaging;

/// <summary>An <see cref="IRoutedMessage"/> built from its parts (tests, benchmarks, messages that are not MQTT publishes).</summary>
public sealed class RoutedMessage : IRoutedMessage
{
    /// <inheritdoc/>
    public required string Topic { get; init; }

    /// <inheritdoc/>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <inheritdoc/>
    public byte QualityOfService { get; init; }

    /// <inheritdoc/>
    public string? ContentType { get; init; }

    /// <inheritdoc/>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <inheritdoc/>
    public string? SourceClientId { get; init; }

    /// <inheritdoc/>
    public DateTimeOffset ReceivedAt { get; init; }
}
