using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Iot.Messaging.Topics;

/// <summary>
/// Validation and reference matching of MQTT topic names and topic filters (MQTT 3.1.1 and 5.0, §4.7),
/// and parsing of shared subscriptions (MQTT 5.0, §4.8.2).
/// </summary>
public static class TopicNames
{
    /// <summary>The largest UTF-8 length of an MQTT string, and so of a topic name or filter: 65 535 bytes.</summary>
    public const int MaxUtf8Length = 65535;

    private const string SharePrefix = "$share/";

    /// <summary>
    /// Returns whether <paramref name="topic"/> is a valid topic name for a PUBLISH: non-empty, without the
    /// wildcard characters <c>+</c> and <c>#</c>, without U+0000, well-formed UTF-16 (so encodable as UTF-8),
    /// and at most <paramref name="maxUtf8Length"/> bytes long in UTF-8.
    /// </summary>
    /// <remarks>
    /// The control and non-characters that the specification says a topic SHOULD NOT contain are accepted,
    /// as the specification allows.
    /// </remarks>
    /// <param name="topic">The topic name; <see langword="null"/> is invalid.</param>
    /// <param name="maxUtf8Length">The largest UTF-8 length accepted, at least 0; default 65 535.</param>
    /// <returns><see langword="true"/> when <paramref name="topic"/> is a valid topic name.</returns>
    public static bool IsValidTopicName([NotNullWhen(true)] string? topic, int maxUtf8Length = MaxUtf8Length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxUtf8Length);
        return !string.IsNullOrEmpty(topic)
            && topic.AsSpan().IndexOfAny('+', '#') < 0
            && IsEncodable(topic, maxUtf8Length);
    }

    /// <summary>
    /// Returns whether <paramref name="filter"/> is a valid topic filter for a SUBSCRIBE (§4.7): non-empty,
    /// without U+0000, well-formed UTF-16, at most <paramref name="maxUtf8Length"/> bytes in UTF-8, with
    /// <c>+</c> only as a whole level and <c>#</c> only as the whole last level.
    /// </summary>
    /// <remarks>
    /// Only the §4.7 syntax is checked: a <c>$share/</c> filter is validated as an ordinary filter here; use
    /// <see cref="TryParseSharedSubscription"/> for the §4.8.2 rules.
    /// </remarks>
    /// <param name="filter">The topic filter; <see langword="null"/> is invalid.</param>
    /// <param name="maxUtf8Length">The largest UTF-8 length accepted, at least 0; default 65 535.</param>
    /// <returns><see langword="true"/> when <paramref name="filter"/> is a valid topic filter.</returns>
    public static bool IsValidTopicFilter([NotNullWhen(true)] string? filter, int maxUtf8Length = MaxUtf8Length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxUtf8Length);
        if (string.IsNullOrEmpty(filter) || !IsEncodable(filter, maxUtf8Length))
        {
            return false;
        }

        int last = filter.Length - 1;
        for (int i = filter.AsSpan().IndexOfAny('+', '#'); i >= 0 && i <= last; i++)
        {
            char c = filter[i];
            if (c != '+' && c != '#')
            {
                continue;
            }

            bool startsLevel = i == 0 || filter[i - 1] == '/';
            bool endsLevel = i == last || filter[i + 1] == '/';
            if (!startsLevel || !endsLevel || (c == '#' && i != last))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Returns whether the topic name <paramref name="topic"/> matches the topic filter
    /// <paramref name="filter"/>. A plain, allocating reference implementation of §4.7: use
    /// <see cref="TopicTree{T}"/> on hot paths.
    /// </summary>
    /// <remarks>
    /// <c>+</c> matches exactly one level, which may be empty; <c>#</c> matches the parent level and any number
    /// of child levels; a filter whose first character is <c>+</c> or <c>#</c> does not match a topic name
    /// whose first character is <c>$</c> (§4.7.2). A <c>$share/</c> filter is matched literally: strip it with
    /// <see cref="TryParseSharedSubscription"/> first. Invalid names or filters match nothing.
    /// </remarks>
    /// <param name="topic">The topic name of a message.</param>
    /// <param name="filter">The topic filter of a subscription.</param>
    /// <returns><see langword="true"/> when the filter matches the topic name.</returns>
    public static bool Matches(string topic, string filter)
    {
        if (!IsValidTopicName(topic, int.MaxValue) || !IsValidTopicFilter(filter, int.MaxValue))
        {
            return false;
        }

        if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        {
            return false;
        }

        string[] topicLevels = topic.Split('/');
        string[] filterLevels = filter.Split('/');
        for (int i = 0; i < filterLevels.Length; i++)
        {
            if (filterLevels[i] == "#")
            {
                return true;
            }

            if (i >= topicLevels.Length || (filterLevels[i] != "+" && filterLevels[i] != topicLevels[i]))
            {
                return false;
            }
        }

        return topicLevels.Length == filterLevels.Length;
    }

    /// <summary>
    /// Returns whether <paramref name="filter"/> asks for a shared subscription, that is starts with
    /// <c>$share/</c> (case-sensitive), whether or not the rest is well-formed.
    /// </summary>
    /// <remarks>
    /// A filter for which this returns <see langword="true"/> but <see cref="TryParseSharedSubscription"/>
    /// returns <see langword="false"/> is a malformed shared subscription (an MQTT 5 server answers it with
    /// reason code 0x8F, Topic Filter invalid), not an ordinary filter.
    /// </remarks>
    /// <param name="filter">The topic filter of a SUBSCRIBE.</param>
    /// <returns><see langword="true"/> when the filter has the <c>$share/</c> prefix.</returns>
    public static bool IsSharedSubscription([NotNullWhen(true)] string? filter) =>
        filter is not null && filter.StartsWith(SharePrefix, StringComparison.Ordinal);

    /// <summary>
    /// Parses a well-formed shared subscription <c>$share/{ShareName}/{filter}</c> (MQTT 5.0, §4.8.2).
    /// </summary>
    /// <remarks>
    /// Returns <see langword="false"/> both for a filter that is not shared and for a malformed shared one
    /// (empty share name, a share name with <c>+</c> or <c>#</c>, a missing or invalid inner filter, or an
    /// invalid filter as a whole); tell them apart with <see cref="IsSharedSubscription"/>.
    /// </remarks>
    /// <param name="filter">The topic filter of a SUBSCRIBE.</param>
    /// <param name="shareName">The share name, or <see cref="string.Empty"/> when this returns <see langword="false"/>.</param>
    /// <param name="topicFilter">The inner topic filter, or <see cref="string.Empty"/> when this returns <see langword="false"/>.</param>
    /// <returns><see langword="true"/> when <paramref name="filter"/> is a well-formed shared subscription.</returns>
    public static bool TryParseSharedSubscription(string filter, out string shareName, out string topicFilter)
    {
        shareName = string.Empty;
        topicFilter = string.Empty;
        if (!IsSharedSubscription(filter) || !IsValidTopicFilter(filter))
        {
            return false;
        }

        int slash = filter.IndexOf('/', SharePrefix.Length);
        if (slash < 0 || slash == SharePrefix.Length || slash == filter.Length - 1)
        {
            return false;
        }

        var name = filter.AsSpan(SharePrefix.Length, slash - SharePrefix.Length);
        if (name.IndexOfAny('+', '#') >= 0)
        {
            return false;
        }

        // The whole filter is valid and the inner filter is a non-empty suffix starting at a level boundary,
        // so the inner filter is valid too.
        shareName = name.ToString();
        topicFilter = filter[(slash + 1)..];
        return true;
    }

    /// <summary>
    /// Returns whether <paramref name="value"/> has no U+0000, no unpaired surrogate and a UTF-8 length of at
    /// most <paramref name="maxUtf8Length"/>.
    /// </summary>
    private static bool IsEncodable(string value, int maxUtf8Length)
    {
        // Every UTF-16 code unit needs at least one UTF-8 byte.
        if (value.Length > maxUtf8Length || value.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        if (Ascii.IsValid(value))
        {
            return true;
        }

        long bytes = 0;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c < 0x80)
            {
                bytes += 1;
            }
            else if (c < 0x800)
            {
                bytes += 2;
            }
            else if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                bytes += 4;
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
            else
            {
                bytes += 3;
            }
        }

        return bytes <= maxUtf8Length;
    }
}
