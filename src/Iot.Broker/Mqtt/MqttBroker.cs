using Iot.Broker.Hosting;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt;

/// <summary>The parts of the broker a connection needs, resolved once.</summary>
internal sealed class MqttBroker(
    SessionContext context,
    SessionManager sessions,
    SubscriptionIndex subscriptions,
    RetainedMessages retained,
    MessageDispatcher dispatcher,
    IOptions<SecurityOptions> security,
    ILoggerFactory loggerFactory)
{
    public SessionContext Context { get; } = context;

    public SessionManager Sessions { get; } = sessions;

    public SubscriptionIndex Subscriptions { get; } = subscriptions;

    public RetainedMessages Retained { get; } = retained;

    public MessageDispatcher Dispatcher { get; } = dispatcher;

    public SecurityOptions Security { get; } = security.Value;

    public ILogger Logger { get; } = loggerFactory.CreateLogger("Iot.Broker.Mqtt.Connection");
}
