namespace Iot.Routing.Commands;

/// <summary>The reply to a command's answer, validated for its queue by <see cref="ICommandStore.PrepareReply"/>.</summary>
internal interface IPreparedReply
{
    /// <summary>The queue the reply goes to.</summary>
    string Queue { get; }
}
