using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Iot.Messaging.Topics;

namespace Iot.Broker.Security.AccessControl;

/// <summary>
/// A parsed <see cref="AclRule.Topic"/>: levels that are literals, <c>+</c>, <c>#</c> or templates mixing literals
/// with <c>{clientid}</c>/<c>{username}</c>. Matching walks topic levels as spans and compares placeholder parts
/// with the principal's values in place, so no substituted string is ever built and no check allocates.
/// </summary>
internal sealed class AclPattern
{
    // A placeholder value containing one of these could turn a literal level into a wildcard or into several levels.
    private static readonly SearchValues<char> UnsafeValueChars = SearchValues.Create("/+#\0");

    private readonly Level[] _levels;
    private readonly bool _usesClientId;
    private readonly bool _usesUsername;
    private readonly Placeholder? _leadingPlaceholder;
    private readonly bool _startsWithDollar;

    private AclPattern(string text, Level[] levels)
    {
        Text = text;
        _levels = levels;
        foreach (var level in levels)
        {
            foreach (var part in level.Parts)
            {
                _usesClientId |= part.Placeholder == Placeholder.ClientId;
                _usesUsername |= part.Placeholder == Placeholder.Username;
            }
        }

        var first = levels[0];
        if (first.Kind == LevelKind.Template && first.Parts[0].Placeholder is { } leading)
        {
            _leadingPlaceholder = leading;
        }

        _startsWithDollar = first.Kind == LevelKind.Template
            ? first.Parts[0].Literal is { } lit && lit.StartsWith('$')
            : first.Kind == LevelKind.Literal && first.Literal.StartsWith('$');
    }

    private enum LevelKind
    {
        Literal,
        SingleWildcard,
        MultiWildcard,
        Template,
    }

    private enum Placeholder
    {
        ClientId,
        Username,
    }

    /// <summary>The pattern as configured.</summary>
    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says why, quoting the pattern.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out AclPattern? pattern, [NotNullWhen(false)] out string? error)
    {
        pattern = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "is required: a topic filter, optionally with {clientid} or {username}.";
            return false;
        }

        string[] texts = text.Split('/');
        var levels = new Level[texts.Length];
        for (int i = 0; i < texts.Length; i++)
        {
            if (!TryParseLevel(texts[i], i == texts.Length - 1, out var level, out var levelError))
            {
                error = $"'{text}' is invalid: level {i} ('{texts[i]}') {levelError}";
                return false;
            }

            levels[i] = level;
        }

        // Whatever the structure, the pattern with any safe value substituted must be a valid MQTT topic filter
        // (no U+0000, encodable, not too long).
        string sample = string.Join('/', levels.Select(l => l.Kind == LevelKind.Template ? string.Concat(l.Parts.Select(p => p.Literal ?? "x")) : l.Literal));
        if (!TopicNames.IsValidTopicFilter(sample))
        {
            error = $"'{text}' is not a valid MQTT topic filter.";
            return false;
        }

        pattern = new AclPattern(text, levels);
        error = null;
        return true;
    }

    /// <summary>
    /// Whether the placeholder values this pattern uses are safe to substitute: present, non-empty, without
    /// <c>/</c>, <c>+</c>, <c>#</c> or U+0000, and not starting with <c>$</c> when the value would open the topic.
    /// A pattern that is not applicable matches nothing.
    /// </summary>
    public bool IsApplicable(string? clientId, string? username) =>
        (!_usesClientId || IsSafeValue(clientId, _leadingPlaceholder == Placeholder.ClientId))
        && (!_usesUsername || IsSafeValue(username, _leadingPlaceholder == Placeholder.Username));

    /// <summary>Whether the topic name <paramref name="topic"/> matches (MQTT §4.7, <c>$</c> topics included).</summary>
    /// <remarks>Call only when <see cref="IsApplicable"/> is true and the topic is a valid topic name.</remarks>
    public bool MatchesTopic(ReadOnlySpan<char> topic, string? clientId, string? username)
    {
        bool dollar = topic.Length > 0 && topic[0] == '$';
        int pos = 0;
        for (int i = 0; i < _levels.Length; i++)
        {
            var level = _levels[i];
            if (level.Kind == LevelKind.MultiWildcard)
            {
                // '#' matches the parent level and every child level, but a leading wildcard never matches '$' topics.
                return i > 0 || !dollar;
            }

            if (!TryNextLevel(topic, ref pos, out var t))
            {
                return false;
            }

            if (level.Kind == LevelKind.SingleWildcard)
            {
                if (i == 0 && dollar)
                {
                    return false;
                }

                continue;
            }

            if (!level.Matches(t, clientId, username))
            {
                return false;
            }
        }

        return pos > topic.Length;
    }

    /// <summary>Whether every topic the valid topic filter <paramref name="filter"/> can match is matched by this pattern.</summary>
    /// <remarks>Call only when <see cref="IsApplicable"/> is true.</remarks>
    public bool Covers(ReadOnlySpan<char> filter, string? clientId, string? username)
    {
        bool dollar = filter.Length > 0 && filter[0] == '$';
        int pos = 0;
        for (int i = 0; i < _levels.Length; i++)
        {
            var level = _levels[i];
            if (level.Kind == LevelKind.MultiWildcard)
            {
                // Covers the rest of the filter, including a filter that ends at the parent level ('a/#' covers 'a').
                return i > 0 || !dollar;
            }

            if (!TryNextLevel(filter, ref pos, out var f))
            {
                return false;
            }

            if (IsMulti(f))
            {
                // '#' reaches levels a non-'#' pattern level no longer bounds. The one exception: every topic has a
                // first level, so a leading '+/#' covers a leading '#' (neither matches '$' topics).
                return i == 0 && _levels.Length == 2 && level.Kind == LevelKind.SingleWildcard && _levels[1].Kind == LevelKind.MultiWildcard;
            }

            if (level.Kind == LevelKind.SingleWildcard)
            {
                // '+' covers '+' and any literal, except a leading '$' literal (a leading wildcard never matches '$' topics).
                if (i == 0 && dollar)
                {
                    return false;
                }

                continue;
            }

            if (IsSingle(f) || !level.Matches(f, clientId, username))
            {
                return false;
            }
        }

        return pos > filter.Length;
    }

    /// <summary>Whether at least one topic matches both this pattern and the valid topic filter <paramref name="filter"/>.</summary>
    /// <remarks>Call only when <see cref="IsApplicable"/> is true.</remarks>
    public bool Overlaps(ReadOnlySpan<char> filter, string? clientId, string? username)
    {
        bool dollar = filter.Length > 0 && filter[0] == '$';
        int pos = 0;
        for (int i = 0; i < _levels.Length; i++)
        {
            var level = _levels[i];
            if (!TryNextLevel(filter, ref pos, out var f))
            {
                // The filter ended; the parent-level topic still matches a remaining pattern of exactly '#'.
                return level.Kind == LevelKind.MultiWildcard;
            }

            bool filterWildcard = IsSingle(f) || IsMulti(f);
            bool patternWildcard = level.Kind is LevelKind.SingleWildcard or LevelKind.MultiWildcard;
            if (i == 0 && ((filterWildcard && !patternWildcard && _startsWithDollar) || (patternWildcard && !filterWildcard && dollar)))
            {
                // A leading wildcard on one side never matches the '$' topic the other side names.
                return false;
            }

            if (IsMulti(f) || level.Kind == LevelKind.MultiWildcard)
            {
                return true;
            }

            if (filterWildcard || patternWildcard)
            {
                continue;
            }

            if (!level.Matches(f, clientId, username))
            {
                return false;
            }
        }

        // The pattern ended: overlap when the filter ends too, or its rest is '#' (which matches the parent level).
        return !TryNextLevel(filter, ref pos, out var rest) || IsMulti(rest);
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static bool IsSafeValue(string? value, bool opensTopic) =>
        !string.IsNullOrEmpty(value)
        && !value.AsSpan().ContainsAny(UnsafeValueChars)
        && !(opensTopic && value[0] == '$');

    private static bool IsSingle(ReadOnlySpan<char> level) => level.Length == 1 && level[0] == '+';

    private static bool IsMulti(ReadOnlySpan<char> level) => level.Length == 1 && level[0] == '#';

    /// <summary>The next '/'-separated level of <paramref name="value"/> from <paramref name="pos"/>; past the last one, pos is Length + 1.</summary>
    private static bool TryNextLevel(ReadOnlySpan<char> value, ref int pos, out ReadOnlySpan<char> level)
    {
        if (pos > value.Length)
        {
            level = default;
            return false;
        }

        var rest = value[pos..];
        int slash = rest.IndexOf('/');
        if (slash < 0)
        {
            level = rest;
            pos = value.Length + 1;
        }
        else
        {
            level = rest[..slash];
            pos += slash + 1;
        }

        return true;
    }

    private static bool TryParseLevel(string text, bool isLast, [NotNullWhen(true)] out Level? level, [NotNullWhen(false)] out string? error)
    {
        level = null;
        error = null;
        if (text == "#")
        {
            if (!isLast)
            {
                error = "is '#', which must be the last level.";
                return false;
            }

            level = new Level(LevelKind.MultiWildcard, text, []);
            return true;
        }

        if (text == "+")
        {
            level = new Level(LevelKind.SingleWildcard, text, []);
            return true;
        }

        if (text.AsSpan().IndexOfAny('+', '#') >= 0)
        {
            error = "uses '+' or '#' inside a level; a wildcard must be a whole level.";
            return false;
        }

        if (!text.Contains('{', StringComparison.Ordinal))
        {
            level = new Level(LevelKind.Literal, text, []);
            return true;
        }

        var parts = new List<Part>();
        int start = 0;
        while (start < text.Length)
        {
            int open = text.IndexOf('{', start);
            if (open < 0)
            {
                parts.Add(new Part(text[start..], null));
                break;
            }

            if (open > start)
            {
                parts.Add(new Part(text[start..open], null));
            }

            int close = text.IndexOf('}', open);
            var name = close < 0 ? ReadOnlySpan<char>.Empty : text.AsSpan(open + 1, close - open - 1);
            if (name.Equals("clientid", StringComparison.OrdinalIgnoreCase))
            {
                parts.Add(new Part(null, Placeholder.ClientId));
            }
            else if (name.Equals("username", StringComparison.OrdinalIgnoreCase))
            {
                parts.Add(new Part(null, Placeholder.Username));
            }
            else
            {
                error = "has an unknown placeholder; the placeholders are {clientid} and {username}.";
                return false;
            }

            start = close + 1;
        }

        level = new Level(LevelKind.Template, text, [.. parts]);
        return true;
    }

    /// <summary>A literal piece of a template level, or a placeholder.</summary>
    private readonly record struct Part(string? Literal, Placeholder? Placeholder);

    private sealed class Level(LevelKind kind, string literal, Part[] parts)
    {
        public LevelKind Kind { get; } = kind;

        public string Literal { get; } = literal;

        public Part[] Parts { get; } = parts;

        /// <summary>Whether a concrete level (a topic level, or a literal filter level) equals this literal or template.</summary>
        public bool Matches(ReadOnlySpan<char> value, string? clientId, string? username)
        {
            if (Kind == LevelKind.Literal)
            {
                return value.SequenceEqual(Literal);
            }

            foreach (var part in Parts)
            {
                var piece = part.Placeholder switch
                {
                    Placeholder.ClientId => clientId.AsSpan(),
                    Placeholder.Username => username.AsSpan(),
                    _ => part.Literal.AsSpan(),
                };
                if (!value.StartsWith(piece, StringComparison.Ordinal))
                {
                    return false;
                }

                value = value[piece.Length..];
            }

            return value.IsEmpty;
        }
    }
}
