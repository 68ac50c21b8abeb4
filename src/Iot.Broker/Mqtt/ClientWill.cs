namespace Iot.Broker.Mqtt;

/// <summary>The Will Message a client's CONNECT carried and its Will Delay Interval (MQTT 5; 0 for MQTT 3.1.1), seconds.</summary>
internal sealed record ClientWill(BrokerMessage Message, uint DelaySeconds);
