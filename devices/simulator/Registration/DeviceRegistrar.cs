using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Simulator.CommandLine;

namespace Iot.Simulator.Registration;

/// <summary>Registration failed in a way retrying will not fix (wrong API key, refused id): the run stops.</summary>
internal sealed class RegistrationException(string message) : Exception(message);

/// <summary>
/// Registers devices through the broker's API (<c>POST /api/devices</c>, which returns the password once); a device
/// that already exists (409) gets fresh credentials from <c>POST /api/devices/{id}/credentials</c>. A few at a time,
/// since the broker hashes every password.
/// </summary>
internal sealed class DeviceRegistrar(HttpClient http, int parallelism) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(parallelism, parallelism);

    /// <summary>
    /// A client for <paramref name="apiUrl"/> that sends <paramref name="apiKey"/> in <c>X-Api-Key</c> and checks an
    /// <c>https://</c> API's certificate as <paramref name="trust"/> says (as for the MQTT connections).
    /// </summary>
    public static HttpClient CreateClient(Uri apiUrl, string apiKey, ServerTrust trust)
    {
        ArgumentNullException.ThrowIfNull(apiUrl);
        ArgumentNullException.ThrowIfNull(trust);
        var baseAddress = apiUrl.AbsoluteUri.EndsWith('/') ? apiUrl : new Uri(apiUrl.AbsoluteUri + "/");
        var handler = new SocketsHttpHandler();
        if (trust.IsCustom)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Accepts(certificate, chain, errors);
        }

        var http = new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return http;
    }

    /// <summary>
    /// Returns the password of <paramref name="deviceId"/>, creating the device or rotating its credentials.
    /// </summary>
    /// <exception cref="RegistrationException">The API refused for a reason retrying will not change (401, 403, 400).</exception>
    /// <exception cref="HttpRequestException">The API could not be reached or failed (5xx): worth retrying.</exception>
    public async Task<(string Password, bool Rotated)> RegisterAsync(string deviceId, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using (var created = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id = deviceId, role = "device" }, cancellationToken).ConfigureAwait(false))
            {
                if (created.StatusCode != HttpStatusCode.Conflict)
                {
                    return (await ReadPasswordAsync(created, deviceId, cancellationToken).ConfigureAwait(false), false);
                }
            }

            using var empty = new StringContent("");
            using var rotated = await http.PostAsync(new Uri($"api/devices/{Uri.EscapeDataString(deviceId)}/credentials", UriKind.Relative), empty, cancellationToken).ConfigureAwait(false);
            return (await ReadPasswordAsync(rotated, deviceId, cancellationToken).ConfigureAwait(false), true);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _slots.Dispose();

    private static async Task<string> ReadPasswordAsync(HttpResponseMessage response, string deviceId, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var message = $"registering {deviceId} at {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {response.ReasonPhrase}{Detail(text)}";
            if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                throw new HttpRequestException(message, null, response.StatusCode);
            }

            throw new RegistrationException(message);
        }

        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.TryGetProperty("password", out var password) && password.GetString() is { Length: > 0 } value)
            {
                return value;
            }
        }
        catch (JsonException)
        {
            // Reported below.
        }

        throw new RegistrationException($"registering {deviceId}: the API answered without a password: {text}");
    }

    private static string Detail(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("detail", out var detail) ? $" ({detail.GetString()})" : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }
}
