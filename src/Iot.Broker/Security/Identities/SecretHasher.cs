using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Iot.Broker.Security.Identities;

/// <summary>Password and API key hashing: PBKDF2-SHA256 with a per-identity salt, SHA-256 for high-entropy API keys.</summary>
internal static class SecretHasher
{
    /// <summary>Bytes of salt per password hash.</summary>
    public const int SaltSize = 16;

    /// <summary>Bytes of derived key per password hash.</summary>
    public const int HashSize = 32;

    /// <summary>Random bytes in a generated password (base64url: 32 characters).</summary>
    public const int GeneratedPasswordBytes = 24;

    /// <summary>Random bytes in a generated API key (base64url: 43 characters).</summary>
    public const int GeneratedApiKeyBytes = 32;

    /// <summary>Hashes <paramref name="password"/> with a new random salt.</summary>
    public static PasswordHash HashPassword(ReadOnlySpan<byte> password, int iterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, HashSize);
        return new PasswordHash(salt, hash, iterations);
    }

    /// <summary>Hashes a text password (UTF-8) with a new random salt.</summary>
    public static PasswordHash HashPassword(string password, int iterations) =>
        HashPassword(Encoding.UTF8.GetBytes(password), iterations);

    /// <summary>
    /// Derives the hash of <paramref name="password"/> with the stored salt and compares in constant time. A password
    /// that is not text (<see cref="IsText"/>) never matches.
    /// </summary>
    /// <remarks>
    /// PBKDF2's HMAC pads a key shorter than its block with zero bytes and replaces a longer one by its SHA-256, so
    /// <c>secret</c>, <c>secret\0</c> and <c>secret\0\0</c> derive the same hash, as do a password of more than 64
    /// bytes and its binary digest. Every password the broker issues or accepts in configuration is text, so refusing
    /// anything else closes both without changing the stored hashes.
    /// </remarks>
    public static bool VerifyPassword(ReadOnlySpan<byte> password, PasswordHash stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (!IsText(password))
        {
            return false;
        }

        Span<byte> derived = stackalloc byte[HashSize];
        Rfc2898DeriveBytes.Pbkdf2(password, stored.Salt, derived, stored.Iterations, HashAlgorithmName.SHA256);
        return CryptographicOperations.FixedTimeEquals(derived, stored.Hash);
    }

    /// <summary>
    /// True when <paramref name="password"/> is well-formed UTF-8 without control characters (U+0000 to U+001F,
    /// U+007F to U+009F): what an issued password (base64url) or a configured one can be.
    /// </summary>
    public static bool IsText(ReadOnlySpan<byte> password)
    {
        if (!System.Text.Unicode.Utf8.IsValid(password))
        {
            return false;
        }

        while (!password.IsEmpty)
        {
            Rune.DecodeFromUtf8(password, out var rune, out var consumed);
            if (Rune.IsControl(rune))
            {
                return false;
            }

            password = password[consumed..];
        }

        return true;
    }

    /// <summary>The SHA-256 of an API key's UTF-8 bytes (keys are high-entropy, so a fast hash suffices).</summary>
    public static byte[] HashApiKey(string apiKey)
    {
        ArgumentNullException.ThrowIfNull(apiKey);
        return SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
    }

    /// <summary>The SHA-256 of a presented secret, the key of the verification cache.</summary>
    public static byte[] Digest(ReadOnlySpan<byte> secret) => SHA256.HashData(secret);

    /// <summary>A new random password.</summary>
    public static string GeneratePassword() => Generate(GeneratedPasswordBytes);

    /// <summary>A new random API key.</summary>
    public static string GenerateApiKey() => Generate(GeneratedApiKeyBytes);

    private static string Generate(int bytes)
    {
        Span<byte> random = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(random);
        return Base64Url.EncodeToString(random);
    }
}
