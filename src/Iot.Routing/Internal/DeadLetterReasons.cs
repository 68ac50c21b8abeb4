namespace Iot.Routing.Internal;

/// <summary>Reasons stored with dead-lettered events.</summary>
internal static class DeadLetterReasons
{
    public const string MaxDeliveryAttemptsExceeded = "MaxDeliveryAttemptsExceeded";
    public const string MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded";
    public const string TimeToLiveExceeded = "TimeToLiveExceeded";
    public const string Rejected = "Rejected";
    public const string DestinationRejected = "DestinationRejected";
    public const string DestinationNotAllowed = "DestinationNotAllowed";
}
