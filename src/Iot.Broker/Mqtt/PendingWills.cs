namespace Iot.Broker.Mqtt;

/// <summary>
/// Wills waiting for their Will Delay Interval (MQTT 5 §3.1.3.2.2), by client id: scheduled when a connection ends,
/// cancelled when the client id connects again, due when the delay or the session ends.
/// </summary>
/// <remarks>
/// Part of <see cref="SessionManager"/>'s state and not thread-safe: the manager's lock guards it, so that a will is
/// scheduled, cancelled and taken atomically with the session changes that decide about it.
/// </remarks>
internal sealed class PendingWills
{
    private readonly Dictionary<string, PendingWill> _byClientId = new(StringComparer.Ordinal);

    public int Count => _byClientId.Count;

    /// <summary>Schedules <paramref name="will"/> of <paramref name="clientId"/> for <paramref name="dueAtUnixMs"/>, replacing any.</summary>
    public void Schedule(string clientId, BrokerMessage will, long dueAtUnixMs) =>
        _byClientId[clientId] = new PendingWill(will, dueAtUnixMs);

    /// <summary>Drops the will of <paramref name="clientId"/>, if one waits (the client id connected again).</summary>
    public void Cancel(string clientId) => _byClientId.Remove(clientId);

    /// <summary>Takes the will of <paramref name="clientId"/> now, whatever its delay (its session ended).</summary>
    public bool TryTake(string clientId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BrokerMessage? will)
    {
        if (_byClientId.Remove(clientId, out var pending))
        {
            will = pending.Will;
            return true;
        }

        will = null;
        return false;
    }

    /// <summary>Takes the wills whose delay passed at <paramref name="nowUnixMs"/>, adding them to <paramref name="due"/>.</summary>
    public void TakeDue(long nowUnixMs, ref List<(string ClientId, BrokerMessage Will)>? due)
    {
        var first = due?.Count ?? 0;
        foreach (var (clientId, pending) in _byClientId)
        {
            if (pending.DueAtUnixMs <= nowUnixMs)
            {
                (due ??= []).Add((clientId, pending.Will));
            }
        }

        for (var i = first; i < (due?.Count ?? 0); i++)
        {
            _byClientId.Remove(due![i].ClientId);
        }
    }

    /// <summary>
    /// The message to publish for a will: stamped with its publisher and the time it is sent, its expiry interval
    /// (kept in <see cref="BrokerMessage.ExpiresAtUnixMs"/> as milliseconds until then) turned into a point in time.
    /// </summary>
    public static BrokerMessage Stamp(BrokerMessage will, string clientId, long nowUnixMs) => new()
    {
        Topic = will.Topic,
        Payload = will.Payload,
        QualityOfService = will.QualityOfService,
        Retain = will.Retain,
        ExpiresAtUnixMs = will.ExpiresAtUnixMs == 0 ? 0 : nowUnixMs + will.ExpiresAtUnixMs,
        ContentType = will.ContentType,
        ResponseTopic = will.ResponseTopic,
        CorrelationData = will.CorrelationData,
        PayloadFormatIndicator = will.PayloadFormatIndicator,
        UserProperties = will.UserProperties,
        SourceClientId = clientId,
        ReceivedAtUnixMs = nowUnixMs,
        RetainedOwnerId = will.RetainedOwnerId,
    };

    /// <summary>A will waiting for its delay. <see cref="BrokerMessage.ExpiresAtUnixMs"/> holds the expiry interval in ms until it is published.</summary>
    private readonly record struct PendingWill(BrokerMessage Will, long DueAtUnixMs);
}
