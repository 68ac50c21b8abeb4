using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Iot.Simulator.CommandLine;

/// <summary>
/// How the broker's TLS certificate is checked on <c>mqtts://</c>, <c>wss://</c> and an <c>https://</c> API: by the
/// system's trust store (the default), against the CA certificates of <c>--ca-file</c> only, or not at all
/// (<c>--insecure</c>, development). The host name is checked in the first two cases.
/// </summary>
internal sealed class ServerTrust
{
    private ServerTrust(X509Certificate2Collection? authorities, bool insecure)
    {
        Authorities = authorities;
        Insecure = insecure;
    }

    /// <summary>The system's trust store.</summary>
    public static ServerTrust System { get; } = new(null, insecure: false);

    /// <summary>Any certificate (<c>--insecure</c>).</summary>
    public static ServerTrust Any { get; } = new(null, insecure: true);

    /// <summary>The CA certificates of <c>--ca-file</c>; null for the system's trust store.</summary>
    public X509Certificate2Collection? Authorities { get; }

    /// <summary>True with <c>--insecure</c>.</summary>
    public bool Insecure { get; }

    /// <summary>True when a certificate check of our own replaces the platform's (<c>--ca-file</c> or <c>--insecure</c>).</summary>
    public bool IsCustom => Insecure || Authorities is not null;

    /// <summary>Reads the CA certificates of <paramref name="path"/> (PEM, one or more, or one DER certificate).</summary>
    public static bool TryLoad(string path, out ServerTrust? trust, out string? error)
    {
        trust = null;
        error = null;
        if (!File.Exists(path))
        {
            error = $"--ca-file '{path}' does not exist.";
            return false;
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
            if (authorities.Count == 0)
            {
                authorities.Add(X509CertificateLoader.LoadCertificateFromFile(path));
            }
        }
        catch (CryptographicException ex)
        {
            error = $"--ca-file '{path}' holds no certificate (PEM or DER): {ex.Message}";
            return false;
        }

        trust = new ServerTrust(authorities, insecure: false);
        return true;
    }

    /// <summary>Whether the server's <paramref name="certificate"/> is accepted, given the platform's verdict <paramref name="errors"/>.</summary>
    public bool Accepts(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (Insecure)
        {
            return true;
        }

        if (Authorities is null)
        {
            return errors == SslPolicyErrors.None;
        }

        // The name must match and a certificate must be there; only the chain is judged again, against our CAs.
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2;
        using var copy = leaf is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        return chain.Build(leaf ?? copy!);
    }
}
