using System.Buffers;
using System.Text;

namespace Iot.Broker.Cluster;

/// <summary>
/// The one mapping between MQTT topic names / topic filters and NATS subjects, used by every cluster component
/// (live traffic, retained messages, session queues), so that a topic always becomes the same subject.
/// </summary>
/// <remarks>
/// <para>
/// A subject is <c>{prefix}.{kind}.{level}.{level}...</c>: <c>{prefix}</c> is the caller's (e.g. <c>iot.m</c>, without a
/// trailing dot), <c>{kind}</c> is <c>t</c> for an ordinary topic and <c>s</c> for a topic whose first level starts with
/// <c>$</c> (§4.7.2), and each MQTT level is one token. The kind token keeps <c>$</c> topics out of reach of a filter that
/// starts with a wildcard: <c>#</c> becomes <c>{prefix}.t.&gt;</c>, which no <c>{prefix}.s....</c> subject matches, while
/// <c>{prefix}.&gt;</c> still covers every topic (a stream's subject).
/// </para>
/// <para>
/// A level is escaped so that it is one valid NATS token of printable ASCII and the mapping is one-to-one: <c>%</c>,
/// <c>.</c>, <c>*</c>, <c>&gt;</c>, space, controls (U+0000-U+0020, U+007F) and every non-ASCII character become <c>%XX</c>
/// per UTF-8 byte (upper-case hex); an empty level becomes a lone <c>%</c>. Nothing else is escaped, so ordinary topics
/// (<c>devices/d1/telemetry</c> becomes <c>iot.m.t.devices.d1.telemetry</c>) cost one copy. A non-ASCII level grows up to
/// nine times in bytes (a 3-byte UTF-8 character becomes 9 ASCII bytes): NATS's <c>max_control_line</c> bounds the subject.
/// </para>
/// <para>
/// Filters: <c>+</c> becomes <c>*</c>; <c>#</c> becomes <c>&gt;</c>, and since MQTT's <c>a/#</c> also matches <c>a</c> while
/// NATS's <c>&gt;</c> needs at least one token, a filter ending in <c>/#</c> gives two subjects (the parent and the
/// <c>&gt;</c>). A filter's wildcard matches the same topics as its subjects do (unit-tested against
/// <see cref="Iot.Messaging.Topics.TopicNames.Matches"/>).
/// </para>
/// </remarks>
internal static class TopicSubjects
{
    /// <summary>The kind token of an ordinary topic.</summary>
    public const string OrdinaryKind = "t";

    /// <summary>The kind token of a topic whose first level starts with <c>$</c>.</summary>
    public const string DollarKind = "s";

    private const string Hex = "0123456789ABCDEF";

    // Printable ASCII that stands for itself in a token ('/' is the level separator and never inside a level).
    private static readonly SearchValues<char> Plain = SearchValues.Create(
        "!\"#$&'()+,-/0123456789:;<=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    // What a subject's body may hold: the plain characters, '.' between tokens and '%' of the escapes.
    private static readonly SearchValues<char> PlainOrSeparators = SearchValues.Create(
        "!\"#$%&'()+,-./0123456789:;<=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The subject of <paramref name="topic"/> under <paramref name="prefix"/>: one new string, no other allocation.
    /// </summary>
    /// <param name="prefix">Dot-separated NATS tokens without wildcards and without a trailing dot, e.g. <c>iot.m</c>.</param>
    /// <param name="topic">An MQTT topic name (any well-formed UTF-16 string; a valid topic name has no <c>+</c>/<c>#</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="topic"/> holds a lone surrogate (not encodable as UTF-8).</exception>
    public static string ToSubject(string prefix, string topic)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(topic);
        var kind = topic.StartsWith('$') ? DollarKind : OrdinaryKind;
        var headLength = prefix.Length + 3;
        if (topic.Length > 0 && topic[0] != '/' && topic[^1] != '/' && !topic.Contains("//", StringComparison.Ordinal)
            && topic.AsSpan().IndexOfAnyExcept(Plain) < 0)
        {
            return string.Create(headLength + topic.Length, (prefix, kind, topic), static (span, state) =>
            {
                var at = WriteHead(span, state.prefix, state.kind);
                state.topic.AsSpan().Replace(span[at..], '/', '.');
            });
        }

        var length = headLength;
        foreach (var level in new LevelEnumerator(topic))
        {
            length += EscapedLength(level) + 1;
        }

        return string.Create(length - 1, (prefix, kind, topic), static (span, state) =>
        {
            var at = WriteHead(span, state.prefix, state.kind);
            var first = true;
            foreach (var level in new LevelEnumerator(state.topic))
            {
                if (!first)
                {
                    span[at++] = '.';
                }

                first = false;
                at += WriteEscaped(level, span[at..]);
            }
        });
    }

    /// <summary>
    /// The topic whose subject (by <see cref="ToSubject"/>) is <paramref name="subject"/>; null when it is not exactly such
    /// a subject under <paramref name="prefix"/> (another prefix, a wildcard, a bad or needless escape, a wrong kind token).
    /// </summary>
    public static string? FromSubject(string prefix, string subject)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(subject);
        var head = prefix.Length + 3;
        if (subject.Length <= head || !subject.StartsWith(prefix, StringComparison.Ordinal) || subject[prefix.Length] != '.'
            || subject[prefix.Length + 2] != '.')
        {
            return null;
        }

        var dollar = subject[prefix.Length + 1] switch
        {
            't' => false,
            's' => true,
            _ => (bool?)null,
        };
        var body = subject.AsSpan(head);
        if (dollar is null || (body[0] == '$') != dollar || body.Contains('/') || body.IndexOfAnyExcept(PlainOrSeparators) >= 0)
        {
            return null;
        }

        if (!body.Contains('%'))
        {
            return body[^1] == '.' || body[0] == '.' || body.Contains("..", StringComparison.Ordinal)
                ? null
                : string.Create(body.Length, subject, static (span, s) => s.AsSpan(s.Length - span.Length).Replace(span, '.', '/'));
        }

        return Unescape(body, dollar.Value);
    }

    /// <summary>
    /// The subjects that together match exactly the topics <paramref name="filter"/> matches (a topic filter without any
    /// <c>$share/{group}/</c> prefix): one, or two when the filter ends in <c>/#</c> (its parent level and <c>&gt;</c>).
    /// </summary>
    /// <param name="prefix">As for <see cref="ToSubject"/>.</param>
    /// <param name="filter">A valid MQTT topic filter.</param>
    public static string[] FilterSubjects(string prefix, string filter)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentException.ThrowIfNullOrEmpty(filter);
        if (filter == "#")
        {
            return [prefix + "." + OrdinaryKind + ".>"];
        }

        var kind = filter[0] == '$' ? DollarKind : OrdinaryKind;
        var builder = new StringBuilder(prefix.Length + 3 + filter.Length + 8).Append(prefix).Append('.').Append(kind);
        var parentLength = -1;
        Span<char> scratch = stackalloc char[48];
        foreach (var level in new LevelEnumerator(filter))
        {
            builder.Append('.');
            if (level is "+")
            {
                builder.Append('*');
            }
            else if (level is "#")
            {
                parentLength = builder.Length - 1;
                builder.Append('>');
            }
            else
            {
                var length = EscapedLength(level);
                var target = length <= scratch.Length ? scratch[..length] : new char[length];
                WriteEscaped(level, target);
                builder.Append(target);
            }
        }

        var subject = builder.ToString();
        return parentLength < 0 ? [subject] : [subject[..parentLength], subject];
    }

    private static int WriteHead(Span<char> span, string prefix, string kind)
    {
        prefix.AsSpan().CopyTo(span);
        var at = prefix.Length;
        span[at++] = '.';
        span[at++] = kind[0];
        span[at++] = '.';
        return at;
    }

    private static int EscapedLength(ReadOnlySpan<char> level)
    {
        if (level.IsEmpty)
        {
            return 1;
        }

        var length = 0;
        for (var i = 0; i < level.Length; i++)
        {
            var c = level[i];
            if (Plain.Contains(c))
            {
                length++;
            }
            else if (c < 0x80)
            {
                length += 3;
            }
            else
            {
                var status = Rune.DecodeFromUtf16(level[i..], out var rune, out var used);
                if (status != OperationStatus.Done)
                {
                    throw new ArgumentException("The topic holds a lone surrogate: it cannot be encoded as UTF-8.", nameof(level));
                }

                length += 3 * rune.Utf8SequenceLength;
                i += used - 1;
            }
        }

        return length;
    }

    private static int WriteEscaped(ReadOnlySpan<char> level, Span<char> target)
    {
        if (level.IsEmpty)
        {
            target[0] = '%';
            return 1;
        }

        var at = 0;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < level.Length; i++)
        {
            var c = level[i];
            if (Plain.Contains(c))
            {
                target[at++] = c;
                continue;
            }

            Rune.DecodeFromUtf16(level[i..], out var rune, out var used);
            var count = rune.EncodeToUtf8(utf8);
            for (var b = 0; b < count; b++)
            {
                target[at++] = '%';
                target[at++] = Hex[utf8[b] >> 4];
                target[at++] = Hex[utf8[b] & 0xF];
            }

            i += used - 1;
        }

        return at;
    }

    private static string? Unescape(ReadOnlySpan<char> body, bool dollar)
    {
        var builder = new StringBuilder(body.Length);
        var bytes = new byte[body.Length / 3];
        var first = true;
        foreach (var range in body.Split('.'))
        {
            var token = body[range];
            if (token.IsEmpty)
            {
                return null;
            }

            if (!first)
            {
                builder.Append('/');
            }

            first = false;
            if (token is "%")
            {
                continue;
            }

            var i = 0;
            while (i < token.Length)
            {
                if (token[i] != '%')
                {
                    var plainEnd = token[i..].IndexOf('%');
                    var run = plainEnd < 0 ? token[i..] : token.Slice(i, plainEnd);
                    builder.Append(run);
                    i += run.Length;
                    continue;
                }

                var count = 0;
                while (i < token.Length && token[i] == '%')
                {
                    if (i + 2 >= token.Length || HexValue(token[i + 1]) is not (>= 0 and var high) || HexValue(token[i + 2]) is not (>= 0 and var low))
                    {
                        return null;
                    }

                    var value = (byte)((high << 4) | low);
                    if (value < 0x80 && (Plain.Contains((char)value) || value == '/'))
                    {
                        return null;
                    }

                    bytes[count++] = value;
                    i += 3;
                }

                try
                {
                    builder.Append(StrictUtf8.GetString(bytes, 0, count));
                }
                catch (DecoderFallbackException)
                {
                    return null;
                }
            }
        }

        var topic = builder.ToString();
        return topic.StartsWith('$') == dollar ? topic : null;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>The '/'-separated levels of a topic or filter as spans, without allocating.</summary>
    private ref struct LevelEnumerator(string value)
    {
        private readonly string _value = value;
        private int _start = -1;
        private int _end = -1;

        public readonly ReadOnlySpan<char> Current => _value.AsSpan(_start, _end - _start);

        public readonly LevelEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_end >= _value.Length)
            {
                return false;
            }

            _start = _end + 1;
            var next = _value.AsSpan(_start).IndexOf('/');
            _end = next < 0 ? _value.Length : _start + next;
            return true;
        }
    }
}
