namespace Iot.Broker.Security.AccessControl;

/// <summary>
/// The built-in rules, appended after the configured ones when <see cref="AccessControlOptions.UseDefaultRules"/>
/// is true. They implement the product's default rights (docs/configuration.md, "Built-in rules").
/// </summary>
internal static class DefaultAclRules
{
    /// <summary>The built-in rules, in evaluation order.</summary>
    public static IReadOnlyList<AclRule> Rules { get; } =
    [
        // A device writes only under its own prefix (but never its own commands: only services send those) and
        // reads only its own commands. The broker enforces client id == username for devices at CONNECT, so
        // {clientid} is the authenticated device id.
        Rule(AclDecision.Deny, AclAction.Publish, AclRole.Device, "devices/{clientid}/commands/#"),
        Rule(AclDecision.Allow, AclAction.Publish, AclRole.Device, "devices/{clientid}/#"),
        Rule(AclDecision.Allow, AclAction.Subscribe, AclRole.Device, "devices/{clientid}/commands/#"),
        Rule(AclDecision.Deny, AclAction.All, AclRole.Device, "#"),

        // A dashboard reads aggregates and changes nothing.
        Rule(AclDecision.Allow, AclAction.Subscribe, AclRole.Dashboard, "aggregates/#"),
        Rule(AclDecision.Deny, AclAction.All, AclRole.Dashboard, "#"),

        // A service sends commands and reads everything, $SYS included; it publishes nothing else by default
        // (telemetry and aggregates come from devices and from the broker itself).
        Rule(AclDecision.Allow, AclAction.Subscribe, AclRole.Service, "#"),
        Rule(AclDecision.Allow, AclAction.Subscribe, AclRole.Service, "$SYS/#"),
        Rule(AclDecision.Allow, AclAction.Publish, AclRole.Service, "devices/+/commands/#"),
        Rule(AclDecision.Allow, AclAction.Publish, AclRole.Service, "commands/#"),
        Rule(AclDecision.Deny, AclAction.All, AclRole.Service, "#"),

        // Anonymous clients exist only when Iot:Security:AllowAnonymous is true (local development): everything,
        // as in Mosquitto's local mode. '#' does not match '$' topics (MQTT §4.7.2), so $SYS is granted for reading.
        Rule(AclDecision.Allow, AclAction.All, AclRole.Anonymous, "#"),
        Rule(AclDecision.Allow, AclAction.Subscribe, AclRole.Anonymous, "$SYS/#"),
    ];

    private static AclRule Rule(AclDecision permission, AclAction action, AclRole role, string topic) =>
        new() { Permission = permission, Action = action, Role = role, Topic = topic };
}
