using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// What a client certificate that chains to the configured CA must also be to name an identity: exactly one subject
/// common name (the identity id), and, when it has an Extended Key Usage extension, the client authentication
/// purpose in it (RFC 5280 §4.2.1.12).
/// </summary>
/// <remarks>
/// Two CNs (<c>CN = dev-a, CN = backend</c>) are refused rather than picking one: .NET's simple name is the last
/// CN, other tools take the first, and a CA that signed "dev-a" must not have signed "backend" by accident.
/// </remarks>
internal static class ClientCertificates
{
    /// <summary>The Extended Key Usage purpose id-kp-clientAuth.</summary>
    public const string ClientAuthenticationOid = "1.3.6.1.5.5.7.3.2";

    private const string CommonNameOid = "2.5.4.3";

    /// <summary>
    /// The identity id <paramref name="certificate"/> names (its one CN), or, when it cannot name one, why.
    /// </summary>
    public static bool TryGetIdentityId(X509Certificate2 certificate, [NotNullWhen(true)] out string? identityId, [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        identityId = null;
        var names = CountCommonNames(certificate.SubjectName, out var single);
        if (names != 1 || string.IsNullOrEmpty(single))
        {
            problem = names switch
            {
                < 0 => "client certificate subject cannot be read",
                0 => "client certificate has no subject common name",
                1 => "client certificate has an empty subject common name",
                _ => $"client certificate has {names} subject common names; exactly one is required",
            };
            return false;
        }

        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509EnhancedKeyUsageExtension usage && !Allows(usage))
            {
                problem = "client certificate's Extended Key Usage does not include client authentication (1.3.6.1.5.5.7.3.2)";
                return false;
            }
        }

        identityId = single;
        problem = null;
        return true;
    }

    private static bool Allows(X509EnhancedKeyUsageExtension usage)
    {
        foreach (var oid in usage.EnhancedKeyUsages)
        {
            if (string.Equals(oid.Value, ClientAuthenticationOid, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Counts the CN attributes of a name, multi-valued RDNs included (Name ::= SEQUENCE OF SET OF
    /// AttributeTypeAndValue); the value of the only one in <paramref name="value"/>; -1 when the name is unreadable.
    /// </summary>
    private static int CountCommonNames(X500DistinguishedName name, out string? value)
    {
        value = null;
        var count = 0;
        try
        {
            var reader = new AsnReader(name.RawData, AsnEncodingRules.BER);
            var sequence = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            while (sequence.HasData)
            {
                var set = sequence.ReadSetOf();
                while (set.HasData)
                {
                    var attribute = set.ReadSequence();
                    var type = attribute.ReadObjectIdentifier();
                    if (!string.Equals(type, CommonNameOid, StringComparison.Ordinal))
                    {
                        continue;
                    }

                    count++;
                    var tag = attribute.PeekTag();
                    value = tag.TagClass == TagClass.Universal && Enum.IsDefined((UniversalTagNumber)tag.TagValue)
                        ? attribute.ReadCharacterString((UniversalTagNumber)tag.TagValue)
                        : null;
                }
            }
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException or ArgumentException)
        {
            return -1;
        }

        return count;
    }
}
