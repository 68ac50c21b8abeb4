namespace Iot.Routing.ClaimCheck;

/// <summary>Blob ids: 32 lowercase hex digits (a random GUID), safe as a file name, a blob name and a URL segment.</summary>
internal static class ClaimCheckIds
{
    public static string New() => Guid.NewGuid().ToString("N");

    public static bool IsValid(string? id)
    {
        if (id is not { Length: 32 })
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    public static void ThrowIfInvalid(string id)
    {
        if (!IsValid(id))
        {
            throw new ArgumentException($"'{id}' is not a claim-check blob id (32 lowercase hex digits).", nameof(id));
        }
    }
}
