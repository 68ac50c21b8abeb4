using Microsoft.Extensions.Logging;

namespace Iot.Routing.Internal;

/// <summary>Log messages of the routing layer (event ids 2xxx).</summary>
internal static partial class RoutingLog
{
    [LoggerMessage(2001, LogLevel.Information, "Routing store opened at {Path}: {Routes} routes, {Subscriptions} subscriptions")]
    public static partial void StoreOpened(ILogger logger, string path, int routes, int subscriptions);

    [LoggerMessage(2098, LogLevel.Warning, "{Path}: skipped the unreadable row {Name} of table {Table} ({Reason}); every other row was loaded")]
    public static partial void DefinitionSkipped(ILogger logger, string path, string table, string name, string reason);

    [LoggerMessage(2002, LogLevel.Information, "Webhook delivery started for subscription {Subscription} to {Endpoint}")]
    public static partial void LoopStarted(ILogger logger, string subscription, Uri endpoint);

    [LoggerMessage(2003, LogLevel.Warning, "Webhook delivery to subscription {Subscription} failed ({Outcome}); {Count} events retry in {Delay}")]
    public static partial void DeliveryFailed(ILogger logger, string subscription, string outcome, int count, TimeSpan delay);

    [LoggerMessage(2004, LogLevel.Warning, "{Count} events of subscription {Subscription} dead-lettered: {Reason} ({Outcome})")]
    public static partial void DeadLettered(ILogger logger, string subscription, int count, string reason, string? outcome);

    [LoggerMessage(2005, LogLevel.Warning, "{Count} events of subscription {Subscription} dropped (dead-lettering is off): {Reason}")]
    public static partial void Dropped(ILogger logger, string subscription, int count, string reason);

    [LoggerMessage(2006, LogLevel.Error, "Webhook delivery loop of subscription {Subscription} failed; restarting it")]
    public static partial void LoopFailed(ILogger logger, string subscription, Exception exception);

    [LoggerMessage(2007, LogLevel.Warning, "Publishing an event of subscription {Subscription} to MQTT topic {Topic} failed")]
    public static partial void MqttDeliveryFailed(ILogger logger, string subscription, string topic, Exception exception);

    [LoggerMessage(2008, LogLevel.Warning, "Subscription {Subscription} delivers to MQTT but no MQTT publisher is registered; event dropped")]
    public static partial void NoMqttPublisher(ILogger logger, string subscription);

    [LoggerMessage(2009, LogLevel.Information, "Webhook of subscription {Subscription} passed the validation handshake")]
    public static partial void Validated(ILogger logger, string subscription);
}
