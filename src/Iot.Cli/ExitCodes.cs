namespace Iot.Cli;

/// <summary>
/// The exit codes of <c>iot</c>, which scripts depend on (docs/operations.md, "Admin CLI"). Each names one kind of
/// outcome, so that a script can tell "the broker said no" from "the broker could not be reached".
/// </summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>The API answered with an error (problem details on stderr): 4xx or 5xx, a wrong key (401), an unknown resource (404).</summary>
    public const int ApiError = 1;

    /// <summary>The command line was wrong: an unknown command or option, a missing argument, a value that does not parse.</summary>
    public const int Usage = 2;

    /// <summary>The broker could not be reached (connection refused, name not resolved) or did not answer within <c>--timeout</c>.</summary>
    public const int Unreachable = 3;

    /// <summary>A wait ended first: the command is still queued or delivered, not answered (<c>commands wait</c>, <c>commands send --wait</c>).</summary>
    public const int NotFinished = 4;

    /// <summary>The device command ended without success: <c>Failed</c>, <c>Expired</c> or <c>DeadLettered</c>.</summary>
    public const int CommandUnsuccessful = 5;
}
