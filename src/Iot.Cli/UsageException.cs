namespace Iot.Cli;

/// <summary>The command line asks for something that cannot be done as written (a body file that does not exist, options that exclude each other).</summary>
internal sealed class UsageException : Exception
{
    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
