namespace Iot.Routing.Queues;

/// <summary>
/// A queue store shared by several processes (a cluster's nodes) that tells this process of session messages another
/// process sent, so that a consumer here (device commands: the node a device is connected to) is woken without polling.
/// </summary>
internal interface IQueueArrivals
{
    /// <summary>
    /// Raised with the queue and the session id when a new message of a session becomes known here (sent by this process
    /// or brought by the store's watch), on any thread, never under a store lock. Handlers must be quick and not throw.
    /// </summary>
    event Action<string, string>? SessionMessageArrived;
}
