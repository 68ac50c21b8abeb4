namespace Iot.Broker.Mqtt;

/// <summary>The outcome of <see cref="SessionManager.ConnectAsync"/>: the session, or why there is none.</summary>
/// <param name="Session">The bound session; null when refused.</param>
/// <param name="SessionPresent">A previous session was resumed.</param>
/// <param name="Refusal">Why no session was bound.</param>
internal readonly record struct SessionBinding(MqttSession? Session, bool SessionPresent, SessionRefusal Refusal);
