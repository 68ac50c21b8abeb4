namespace Iot.Routing.Commands;

/// <summary>One command on its way to a device.</summary>
/// <param name="DeviceId">The device (its MQTT client id).</param>
/// <param name="Topic">Normally <c>devices/{id}/commands/{name}/{commandId}</c>.</param>
/// <param name="Payload">The command body.</param>
/// <param name="ResponseTopic">MQTT 5 Response Topic, normally <c>devices/{id}/responses/{commandId}</c>.</param>
/// <param name="CorrelationData">MQTT 5 Correlation Data (e.g. the command id as UTF-8).</param>
/// <param name="MessageExpirySeconds">MQTT 5 Message Expiry Interval from the command's remaining TTL; null for none.</param>
/// <param name="ContentType">MQTT 5 content type, e.g. <c>application/json</c>.</param>
/// <param name="TraceParent">The W3C trace context, sent as the MQTT 5 user property <c>traceparent</c>; null for none.</param>
public sealed record DeviceCommandMessage(
    string DeviceId,
    string Topic,
    ReadOnlyMemory<byte> Payload,
    string? ResponseTopic = null,
    byte[]? CorrelationData = null,
    uint? MessageExpirySeconds = null,
    string? ContentType = null,
    string? TraceParent = null);
