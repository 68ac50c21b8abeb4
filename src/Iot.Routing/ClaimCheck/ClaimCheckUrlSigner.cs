using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Signs and checks the broker's own read URLs for stores without URLs of their own (the local directory):
/// <c>/claimcheck/{id}?expires={unix seconds}&amp;sig={HMAC-SHA256 of "{id}:{expires}", base64url}</c>. The key is random
/// per process, so a URL stops working when the broker restarts (the reference's id still reads the blob through
/// <c>GET /api/claimcheck/{id}</c> with an API key).
/// </summary>
internal sealed class ClaimCheckUrlSigner
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);

    /// <summary>The path and query of a URL for <paramref name="id"/> valid until <paramref name="expiresAt"/>.</summary>
    public string CreatePathAndQuery(string id, DateTimeOffset expiresAt)
    {
        var expires = expiresAt.ToUnixTimeSeconds();
        return string.Create(CultureInfo.InvariantCulture, $"/claimcheck/{id}?expires={expires}&sig={Sign(id, expires)}");
    }

    /// <summary>Whether <paramref name="signature"/> is this process's for <paramref name="id"/> and <paramref name="expires"/>, and it has not expired.</summary>
    public bool IsValid(string id, long expires, string? signature, DateTimeOffset now)
    {
        if (signature is null || now.ToUnixTimeSeconds() > expires)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(id, expires));
        var actual = Encoding.ASCII.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }

    private string Sign(string id, long expires)
    {
        var mac = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{id}:{expires}")));
        return Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
