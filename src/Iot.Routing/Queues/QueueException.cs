namespace Iot.Routing.Queues;

/// <summary>A queue operation that cannot run (unknown queue, missing session, invalid message).</summary>
public sealed class QueueException : Exception
{
    /// <summary>Creates the exception.</summary>
    public QueueException(QueueError error, string message)
        : base(message) => Error = error;

    /// <summary>Creates the exception with the default message.</summary>
    public QueueException()
        : this(QueueError.Invalid, "Invalid queue operation.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueException(string message)
        : this(QueueError.Invalid, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueException(string message, Exception innerException)
        : base(message, innerException) => Error = QueueError.Invalid;

    /// <summary>The kind of failure.</summary>
    public QueueError Error { get; }
}
