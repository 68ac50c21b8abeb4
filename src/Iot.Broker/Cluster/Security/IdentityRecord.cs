using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Cluster.Security;

/// <summary>
/// An identity's key and value in the identity bucket. The key is the id in base64url (ids may hold <c>.</c> and
/// <c>:</c>, which key-value keys cannot); the value is JSON with the same fields as a row of <c>identities.db</c>:
/// <c>{"id","role","enabled","createdAt","updatedAt" (Unix ms),"password":{"salt","hash","iterations"}|null,"apiKeyHash"|null}</c>,
/// binary fields in base64.
/// </summary>
internal static class IdentityRecord
{
    /// <summary>The key of identity <paramref name="id"/>.</summary>
    public static string Key(string id) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(id));

    /// <summary>The id a key stands for; null when the key is not one this broker wrote.</summary>
    public static string? TryDecodeKey(string key)
    {
        try
        {
            return Encoding.UTF8.GetString(Base64Url.DecodeFromChars(key));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The stored value of <paramref name="identity"/> (its revision and stamp are not part of it).</summary>
    public static byte[] Write(Identity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", identity.Id);
            json.WriteString("role", IdentityIds.RoleName(identity.Role));
            json.WriteBoolean("enabled", identity.Enabled);
            json.WriteNumber("createdAt", identity.CreatedAt.ToUnixTimeMilliseconds());
            json.WriteNumber("updatedAt", identity.UpdatedAt.ToUnixTimeMilliseconds());
            if (identity.Password is { } password)
            {
                json.WriteStartObject("password");
                json.WriteBase64String("salt", password.Salt);
                json.WriteBase64String("hash", password.Hash);
                json.WriteNumber("iterations", password.Iterations);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("password");
            }

            if (identity.ApiKeyHash is { } apiKeyHash)
            {
                json.WriteBase64String("apiKeyHash", apiKeyHash);
            }
            else
            {
                json.WriteNull("apiKeyHash");
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the value stored under <paramref name="key"/>: the identity, or why it cannot be read.</summary>
    public static (string Id, Identity? Identity, string? Error) Read(string key, byte[]? value)
    {
        var id = TryDecodeKey(key) ?? key;
        if (value is null || value.Length == 0)
        {
            return (id, null, "empty value");
        }

        try
        {
            using var document = JsonDocument.Parse(value);
            var root = document.RootElement;
            var storedId = root.GetProperty("id").GetString() ?? throw new InvalidDataException("no id");
            if (!string.Equals(storedId, id, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"the value is of identity '{storedId}', not of its key");
            }

            var roleName = root.GetProperty("role").GetString();
            if (!IdentityIds.TryParseRole(roleName, out var role))
            {
                throw new InvalidDataException($"unknown role '{roleName}'");
            }

            PasswordHash? password = null;
            if (root.GetProperty("password") is { ValueKind: JsonValueKind.Object } stored)
            {
                password = new PasswordHash(stored.GetProperty("salt").GetBytesFromBase64(), stored.GetProperty("hash").GetBytesFromBase64(),
                    stored.GetProperty("iterations").GetInt32());
            }

            var apiKey = root.GetProperty("apiKeyHash");
            var identity = new Identity(
                storedId,
                role,
                root.GetProperty("enabled").GetBoolean(),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("createdAt").GetInt64()),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("updatedAt").GetInt64()),
                password,
                apiKey.ValueKind == JsonValueKind.Null ? null : apiKey.GetBytesFromBase64());
            return (id, identity, null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or InvalidOperationException or KeyNotFoundException
            or FormatException or ArgumentException)
        {
            return (id, null, ex.Message);
        }
    }
}
