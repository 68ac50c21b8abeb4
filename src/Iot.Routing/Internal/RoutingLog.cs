using Iot.Messaging;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Internal;

/// <summary>Log messages of the routing layer (event ids 2xxx).</summary>
internal static partial class RoutingLog
{
    [LoggerMessage(2001, LogLevel.Information, "Routing store opened at {Path}: {Routes} routes, {Subscriptions} subscriptions")]
    public static partial void StoreOpened(ILogger logger, string path, int routes, int subscriptions);

    [LoggerMessage(2098, LogLevel.Warning, "{Path}: skipped the unreadable row {Name} of table {Table} ({Reason}); every other row was loaded")]
    public static partial void DefinitionSkipped(ILogger logger, string path, string table, string name, string reason);

    [LoggerMessage(2013, LogLevel.Information,
        "Webhook delivery stopping: {Loops} subscriptions send nothing new; requests in flight complete and are settled within the shutdown timeout")]
    public static partial void Stopping(ILogger logger, int loops);

    [LoggerMessage(2002, LogLevel.Information, "Webhook delivery started for subscription {Subscription} to {Endpoint}")]
    private static partial void LoopStartedCore(ILogger logger, string subscription, Uri endpoint);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void LoopStarted(ILogger logger, string subscription, Uri endpoint)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            LoopStartedCore(logger, safeSubscription, endpoint);
        }
    }

    [LoggerMessage(2003, LogLevel.Warning, "Webhook delivery to subscription {Subscription} failed ({Outcome}); {Count} events retry in {Delay}")]
    private static partial void DeliveryFailedCore(ILogger logger, string subscription, string outcome, int count, TimeSpan delay);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void DeliveryFailed(ILogger logger, string subscription, string outcome, int count, TimeSpan delay)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            var safeOutcome = LogSafe.Escape(outcome);
            DeliveryFailedCore(logger, safeSubscription, safeOutcome, count, delay);
        }
    }

    [LoggerMessage(2004, LogLevel.Warning, "{Count} events of subscription {Subscription} dead-lettered: {Reason} ({Outcome})")]
    private static partial void DeadLetteredCore(ILogger logger, string subscription, int count, string reason, string? outcome);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void DeadLettered(ILogger logger, string subscription, int count, string reason, string? outcome)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            var safeReason = LogSafe.Escape(reason);
            var safeOutcome = LogSafe.Escape(outcome);
            DeadLetteredCore(logger, safeSubscription, count, safeReason, safeOutcome);
        }
    }

    [LoggerMessage(2005, LogLevel.Warning, "{Count} events of subscription {Subscription} dropped (dead-lettering is off): {Reason}")]
    private static partial void DroppedCore(ILogger logger, string subscription, int count, string reason);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void Dropped(ILogger logger, string subscription, int count, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            var safeReason = LogSafe.Escape(reason);
            DroppedCore(logger, safeSubscription, count, safeReason);
        }
    }

    [LoggerMessage(2006, LogLevel.Error, "Webhook delivery loop of subscription {Subscription} failed; restarting it")]
    private static partial void LoopFailedCore(ILogger logger, string subscription, Exception exception);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void LoopFailed(ILogger logger, string subscription, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            LoopFailedCore(logger, safeSubscription, exception);
        }
    }

    [LoggerMessage(2007, LogLevel.Warning, "Publishing an event of subscription {Subscription} to MQTT topic {Topic} failed")]
    private static partial void MqttDeliveryFailedCore(ILogger logger, string subscription, string topic, Exception exception);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void MqttDeliveryFailed(ILogger logger, string subscription, string topic, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            var safeTopic = LogSafe.Escape(topic);
            MqttDeliveryFailedCore(logger, safeSubscription, safeTopic, exception);
        }
    }

    [LoggerMessage(2008, LogLevel.Warning, "Subscription {Subscription} delivers to MQTT but no MQTT publisher is registered; event dropped")]
    private static partial void NoMqttPublisherCore(ILogger logger, string subscription);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void NoMqttPublisher(ILogger logger, string subscription)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            NoMqttPublisherCore(logger, safeSubscription);
        }
    }

    [LoggerMessage(2009, LogLevel.Information, "Webhook of subscription {Subscription} passed the validation handshake")]
    private static partial void ValidatedCore(ILogger logger, string subscription);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void Validated(ILogger logger, string subscription)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeSubscription = LogSafe.Escape(subscription);
            ValidatedCore(logger, safeSubscription);
        }
    }

    [LoggerMessage(2010, LogLevel.Warning, "Subscription {Subscription} is full ({MaxEvents} pending events or {MaxBytes} bytes); new events for it are dropped ({Suppressed} more since the last line)")]
    public static partial void SubscriptionFull(ILogger logger, string subscription, int maxEvents, long maxBytes, long suppressed);

    [LoggerMessage(2011, LogLevel.Warning, "Subscription {Subscription} names the MQTT topic {Topic}, which subscriptions may not publish to; event dropped")]
    public static partial void MqttDestinationRefused(ILogger logger, string subscription, string topic);

    [LoggerMessage(2012, LogLevel.Warning, "Subscription {Subscription} holds {MaxDeadLetters} dead letters; its oldest {Count} were deleted ({Suppressed} more since the last line)")]
    public static partial void DeadLettersEvicted(ILogger logger, string subscription, int maxDeadLetters, int count, long suppressed);
}
