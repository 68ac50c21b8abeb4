namespace Iot.Messaging.Http;

/// <summary>
/// Endpoint metadata that describes, for the OpenAPI document only, the body an endpoint reads itself. It is not
/// <c>IAcceptsMetadata</c> (<c>.Accepts&lt;T&gt;()</c>) on purpose: that metadata also takes part in routing and would refuse
/// other content types with a bare 415 before the endpoint can answer with its own problem (or accept them, as a queue
/// message of any content type is). The broker's OpenAPI setup turns it into the operation's <c>requestBody</c>.
/// </summary>
/// <param name="Type">The body's type: a JSON type, <see cref="Stream"/> for raw bytes, or <c>JsonElement</c> for any JSON.</param>
/// <param name="IsOptional">The endpoint also accepts no body.</param>
/// <param name="ContentTypes">The content types the endpoint reads, the usual one first.</param>
public sealed record RequestBodyDescription(Type Type, bool IsOptional, IReadOnlyList<string> ContentTypes);
