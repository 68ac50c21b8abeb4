namespace Iot.Cli.Http;

/// <summary>The broker could not be reached, or did not answer within the time limit.</summary>
internal sealed class UnreachableException : Exception
{
    public UnreachableException()
    {
    }

    public UnreachableException(string message)
        : base(message)
    {
    }

    public UnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
