using System.Text;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

public sealed class SecretHasherTests
{
    [Fact]
    public void HashPassword_ThenVerify_MatchesOnlyTheSamePassword()
    {
        var hash = SecretHasher.HashPassword("s3cret", 1_000);

        Assert.True(SecretHasher.VerifyPassword("s3cret"u8, hash));
        Assert.False(SecretHasher.VerifyPassword("s3creT"u8, hash));
        Assert.False(SecretHasher.VerifyPassword(""u8, hash));
    }

    [Fact]
    public void HashPassword_SamePasswordTwice_DifferentSaltAndHash()
    {
        var a = SecretHasher.HashPassword("same", 1_000);
        var b = SecretHasher.HashPassword("same", 1_000);

        Assert.Equal(SecretHasher.SaltSize, a.Salt.Length);
        Assert.Equal(SecretHasher.HashSize, a.Hash.Length);
        Assert.NotEqual(a.Salt, b.Salt);
        Assert.NotEqual(a.Hash, b.Hash);
    }

    [Fact]
    public void HashPassword_Always_IsPbkdf2Sha256WithTheGivenIterations()
    {
        var hash = SecretHasher.HashPassword("pw", 1_234);

        var expected = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2(
            Encoding.UTF8.GetBytes("pw"), hash.Salt, 1_234, System.Security.Cryptography.HashAlgorithmName.SHA256, SecretHasher.HashSize);
        Assert.Equal(1_234, hash.Iterations);
        Assert.Equal(expected, hash.Hash);
    }

    [Fact]
    public void VerifyPassword_UsesTheStoredIterations()
    {
        var hash = SecretHasher.HashPassword("pw", 2_000);

        Assert.True(SecretHasher.VerifyPassword("pw"u8, hash));
        Assert.False(SecretHasher.VerifyPassword("pw"u8, hash with { Iterations = 1_000 }));
    }

    [Fact]
    public void HashApiKey_SameKey_SameSha256()
    {
        var hash = SecretHasher.HashApiKey("key-0123456789abcdef");

        Assert.Equal(32, hash.Length);
        Assert.Equal(hash, SecretHasher.HashApiKey("key-0123456789abcdef"));
        Assert.NotEqual(hash, SecretHasher.HashApiKey("key-0123456789abcdeF"));
    }

    [Fact]
    public void Generate_Always_NewUrlSafeSecrets()
    {
        var passwords = Enumerable.Range(0, 100).Select(_ => SecretHasher.GeneratePassword()).ToHashSet();
        var key = SecretHasher.GenerateApiKey();

        Assert.Equal(100, passwords.Count);
        Assert.All(passwords, p => Assert.Equal(32, p.Length));
        Assert.Equal(43, key.Length);
        Assert.DoesNotContain(passwords.Append(key), s => s.Contains('+', StringComparison.Ordinal) || s.Contains('/', StringComparison.Ordinal) || s.Contains('=', StringComparison.Ordinal));
    }

    [Fact]
    public void VerifyPassword_TrailingZeroBytesOrControlCharacters_NeverMatch()
    {
        // PBKDF2-HMAC zero-pads a short key: without the text rule these would all derive the same hash.
        var hash = SecretHasher.HashPassword("secret", 1_000);

        Assert.True(SecretHasher.VerifyPassword("secret"u8, hash));
        Assert.False(SecretHasher.VerifyPassword("secret\0"u8, hash));
        Assert.False(SecretHasher.VerifyPassword("secret\0\0\0\0"u8, hash));
        Assert.False(SecretHasher.VerifyPassword("secret\u0085"u8, hash));
    }

    [Fact]
    public void VerifyPassword_LongPasswordsDigest_DoesNotMatch()
    {
        // HMAC replaces a key longer than its block (64 bytes) by its SHA-256: the digest is binary, so not text.
        var password = new string('p', 65);
        var hash = SecretHasher.HashPassword(password, 1_000);

        Assert.True(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(password), hash));
        Assert.False(SecretHasher.VerifyPassword(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(password)), hash));
    }

    [Theory]
    [InlineData("abc-DEF_123", true)]
    [InlineData("pässwörd ✓ 日本", true)]
    [InlineData("tab\there", false)]
    [InlineData("del\u007f", false)]
    public void IsText_AcceptsPrintableTextOnly(string password, bool expected) =>
        Assert.Equal(expected, SecretHasher.IsText(Encoding.UTF8.GetBytes(password)));

    [Fact]
    public void IsText_IllFormedUtf8_IsNotText() => Assert.False(SecretHasher.IsText([0x61, 0xFF, 0x62]));
}
