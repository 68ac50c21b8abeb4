namespace Iot.Broker.Api;

/// <summary>
/// The names of the HTTP API's authorization policy and authentication scheme. Every <c>/api</c> endpoint requires
/// <see cref="Name"/>: GET and HEAD need a service or dashboard identity, other methods a service identity; devices
/// get 403. With <c>Iot:Security:AllowAnonymous=true</c> a request without credentials is let through too.
/// </summary>
public static class IotApiPolicy
{
    /// <summary>The authorization policy of the <c>/api</c> group.</summary>
    public const string Name = "IotApi";

    /// <summary>The authentication scheme: an API key in <c>X-Api-Key</c> or <c>Authorization: Bearer</c>.</summary>
    public const string AuthenticationScheme = "IotApiKey";

    /// <summary>The header that carries an API key.</summary>
    public const string ApiKeyHeader = "X-Api-Key";
}
