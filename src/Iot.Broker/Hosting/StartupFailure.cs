using System.Net.Sockets;
using System.Reflection;
using Iot.Messaging;
using Microsoft.AspNetCore.Connections;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting;

/// <summary>
/// Why the broker could not start, as one sentence that names the cause and the port or path (a port in use, an
/// unusable data directory, a store file that is not a database, a bad setting), for the single line the broker logs
/// before it exits with <see cref="ExitCode"/>, instead of an unhandled exception and SIGABRT.
/// </summary>
public static class StartupFailure
{
    /// <summary>The process's exit code when start-up failed.</summary>
    public const int ExitCode = 1;

    /// <summary>The cause of a failed start-up, in one line.</summary>
    /// <param name="exception">What the host's creation or start threw.</param>
    /// <param name="dataDir">The configured <c>Iot:DataDir</c>, named when a file or directory cannot be used.</param>
    /// <param name="ports">The configured listener ports by setting (<c>Iot:Mqtt:Port</c>, ...), so that a port in use
    /// is named with its setting.</param>
    public static string Describe(Exception exception, string? dataDir, IReadOnlyDictionary<string, int>? ports = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var causes = Chain(exception).ToList();
        if (causes.OfType<OptionsValidationException>().FirstOrDefault() is { } invalid)
        {
            return "invalid configuration: " + OneLine(string.Join(" ", invalid.Failures));
        }

        if (causes.Any(IsAddressInUse))
        {
            // Kestrel's IOException and the MQTT listener's both name the address and port; the socket's does not.
            var named = causes.FirstOrDefault(e => e is IOException && !IsAddressInUse(e)) ?? causes[0];
            var settings = ports?.Where(p => p.Value > 0 && named.Message.Contains($":{p.Value}", StringComparison.Ordinal)
                && !named.Message.Contains(p.Key, StringComparison.Ordinal)).Select(p => p.Key).ToList();
            var setting = settings is { Count: > 0 } ? $" ({string.Join(", ", settings)})" : "";
            return $"a port is already in use{setting} (another process listens on it; choose another port or stop that process): {OneLine(named.Message)}";
        }

        if (causes.OfType<SqliteException>().FirstOrDefault() is { } sqlite)
        {
            var file = causes.OfType<InvalidDataException>().FirstOrDefault()?.Message;
            return file is not null
                ? OneLine(file)
                : $"a store file in the data directory '{Full(dataDir)}' (Iot:DataDir) is corrupt, not a SQLite database or not writable: {OneLine(sqlite.Message)}";
        }

        if (causes.FirstOrDefault(e => e is IOException or UnauthorizedAccessException) is { } io)
        {
            return $"the data directory '{Full(dataDir)}' (Iot:DataDir) or a file in it cannot be used: {OneLine(io.Message)}";
        }

        var root = causes.Count > 1 && exception is AggregateException or TargetInvocationException ? causes[1] : exception;
        return $"{OneLine(root.Message)} ({root.GetType().Name})";
    }

    /// <summary>
    /// Whether <see cref="Describe"/> names a known cause (a setting, a port, a store file, the data directory, or a
    /// message written for the operator that names the setting to change, as "(Iot:...)"); for any other exception
    /// the broker logs the exception with its stack trace too (event 1174), since its one line cannot say where it
    /// came from.
    /// </summary>
    public static bool IsDiagnosed(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return Chain(exception).Any(e => e is OptionsValidationException or SqliteException or IOException or UnauthorizedAccessException
            || IsAddressInUse(e) || e.Message.Contains("(Iot:", StringComparison.Ordinal));
    }

    private static bool IsAddressInUse(Exception e) =>
        e is AddressInUseException || e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse };

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Stack<Exception>();
        pending.Push(exception);
        while (pending.Count > 0)
        {
            var current = pending.Pop();
            yield return current;
            if (current is AggregateException aggregate)
            {
                for (var i = aggregate.InnerExceptions.Count - 1; i >= 0; i--)
                {
                    pending.Push(aggregate.InnerExceptions[i]);
                }
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }

    private static string Full(string? path) => string.IsNullOrEmpty(path) ? "./data" : Path.GetFullPath(path);

    private static string OneLine(string text) => LogSafe.Escape(text.ReplaceLineEndings(" "));
}
