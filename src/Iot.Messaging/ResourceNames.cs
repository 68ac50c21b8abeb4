using System.Buffers;

namespace Iot.Messaging;

/// <summary>
/// The one character set for the ids of identities (device ids), queues, streams, consumer groups, routes, event
/// subscriptions and commands, wherever they enter (HTTP API, MQTT topics, configuration): 1 to
/// <see cref="MaxLength"/> characters from <c>A-Z a-z 0-9 . _ : -</c>, the first a letter or digit.
/// </summary>
/// <remarks>
/// These ids are MQTT usernames, topic levels, URL path segments, file names and log values at once, so the set leaves
/// out everything that is special in one of them: <c>.</c> and <c>..</c> (removed from URLs as dot segments, so such an
/// identity could be created but never addressed), whitespace, control characters, format characters such as the
/// bidi marks (which make two different ids look alike), any other non-ASCII character, <c>/</c>, <c>+</c>, <c>#</c>,
/// <c>\</c>, and <c>$</c> (the platform's own names start with it). Client ids are not resource ids: MQTT allows more.
/// </remarks>
public static class ResourceNames
{
    /// <summary>The longest id.</summary>
    public const int MaxLength = 128;

    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");

    /// <summary>Null when <paramref name="name"/> is a valid id; otherwise why it is not, naming it as <paramref name="what"/>.</summary>
    /// <param name="name">The id to check.</param>
    /// <param name="what">What the id names in the message, e.g. <c>device id</c>.</param>
    /// <param name="maxLength">A shorter limit for a kind of resource (streams: 64); at most <see cref="MaxLength"/>.</param>
    public static string? Validate(string? name, string what = "id", int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(name))
        {
            return $"The {what} is required.";
        }

        var limit = Math.Min(maxLength, MaxLength);
        if (name.Length > limit)
        {
            return $"The {what} is {name.Length} characters long; at most {limit} are allowed.";
        }

        if (!char.IsAsciiLetterOrDigit(name[0]) || name.AsSpan().ContainsAnyExcept(Allowed))
        {
            return $"The {what} may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-', and must start with a letter or digit "
                + "(no spaces, control or bidi characters, '/', '+', '#', '$' or '\\'; not '.' or '..').";
        }

        return null;
    }

    /// <summary>Whether <paramref name="name"/> is a valid id (see <see cref="Validate"/>).</summary>
    public static bool IsValid(string? name) => Validate(name) is null;

    /// <summary>
    /// Whether <paramref name="topic"/> submits a command (<c>commands/{deviceId}/{name}[/{commandId}]</c>) to a device id
    /// or with a command id that is not a valid id: such a publish is refused instead of acknowledged and never delivered.
    /// </summary>
    public static bool IsInvalidCommandSubmission(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!topic.StartsWith("commands/", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic.AsSpan("commands/".Length);
        var slash = rest.IndexOf('/');
        var deviceId = slash < 0 ? rest : rest[..slash];
        if (!IsValidSpan(deviceId))
        {
            return true;
        }

        if (slash < 0)
        {
            return false;
        }

        // commands/{deviceId}/{name}/{commandId}: the command id is an id too (GET /api/commands/{commandId}).
        var afterName = rest[(slash + 1)..];
        var second = afterName.IndexOf('/');
        return second >= 0 && !IsValidSpan(afterName[(second + 1)..]);
    }

    private static bool IsValidSpan(ReadOnlySpan<char> name) =>
        name.Length is > 0 and <= MaxLength && char.IsAsciiLetterOrDigit(name[0]) && !name.ContainsAnyExcept(Allowed);
}
