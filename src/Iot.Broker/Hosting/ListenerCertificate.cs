using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting;

/// <summary>
/// Loads a TLS listener's server certificate the one way both TLS listeners (MQTT <c>Iot:Mqtt:Tls*</c>, HTTPS
/// <c>Iot:Http:Tls*</c>) take it: a PFX/PKCS#12 file with an optional password, or a PEM certificate with a PEM key.
/// </summary>
internal static class ListenerCertificate
{
    /// <summary>The certificate; a missing file fails start-up with the setting's name.</summary>
    /// <param name="section">The settings' section (<c>Iot:Mqtt</c>, <c>Iot:Http</c>), named in the error.</param>
    /// <param name="optionsType">The options class, for the validation exception.</param>
    /// <param name="path">The certificate file (PFX or PEM).</param>
    /// <param name="keyPath">The PEM key file when <paramref name="path"/> is PEM; null for a PFX.</param>
    /// <param name="password">The PFX password; null for none.</param>
    public static X509Certificate2 Load(string section, Type optionsType, string path, string? keyPath, string? password)
    {
        if (!File.Exists(path))
        {
            throw new OptionsValidationException(section, optionsType, [$"{section}:TlsCertificatePath '{path}' does not exist."]);
        }

        if (!string.IsNullOrEmpty(keyPath))
        {
            if (!File.Exists(keyPath))
            {
                throw new OptionsValidationException(section, optionsType, [$"{section}:TlsKeyPath '{keyPath}' does not exist."]);
            }

            return X509Certificate2.CreateFromPemFile(path, keyPath);
        }

        return X509CertificateLoader.LoadPkcs12FromFile(path, password);
    }
}
