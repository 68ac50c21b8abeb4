namespace Iot.Broker.Mqtt;

/// <summary>Parsing of shared-subscription filters (<c>$share/{ShareName}/{filter}</c>, MQTT 5 §4.8.2).</summary>
internal static class TopicFilters
{
    private const string SharePrefix = "$share/";

    public static bool IsShared(string filter) => filter.StartsWith(SharePrefix, StringComparison.Ordinal);

    /// <summary>Splits a shared filter; false when it is not shared or is malformed (empty share name, wildcard in it, no filter).</summary>
    public static bool TryParseShared(string filter, out string shareName, out string topicFilter)
    {
        shareName = string.Empty;
        topicFilter = filter;
        if (!IsShared(filter))
        {
            return false;
        }

        var rest = filter.AsSpan(SharePrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
        {
            return false;
        }

        var name = rest[..slash];
        if (name.ContainsAny('+', '#'))
        {
            return false;
        }

        shareName = name.ToString();
        topicFilter = rest[(slash + 1)..].ToString();
        return true;
    }
}
