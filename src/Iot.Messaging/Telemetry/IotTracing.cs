using System.Diagnostics;

namespace Iot.Messaging.Telemetry;

/// <summary>
/// The platform's <see cref="ActivitySource"/> (<c>Iot</c>) and W3C trace context: a message's context travels in the
/// MQTT 5 user properties <c>traceparent</c> / <c>tracestate</c> (forwarded unchanged to subscribers, as MQTT 5 forwards
/// every user property) and in the CloudEvents distributed-tracing extension of the events it becomes. Spans are made
/// only when a listener is attached (<see cref="ActivitySource.HasListeners"/>): without one the publish path takes no
/// timestamp, reads no property and allocates nothing for tracing.
/// </summary>
public static class IotTracing
{
    /// <summary>The name of the activity source, for <c>AddSource</c>.</summary>
    public const string SourceName = "Iot";

    /// <summary>The W3C <c>traceparent</c> name, as MQTT 5 user property and CloudEvents extension attribute.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>The W3C <c>tracestate</c> name, as MQTT 5 user property and CloudEvents extension attribute.</summary>
    public const string TraceState = "tracestate";

    /// <summary>The source of every span of the platform.</summary>
    public static ActivitySource Source { get; } = new(SourceName, typeof(IotTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Whether spans are being recorded (a listener is attached).</summary>
    public static bool Enabled => Source.HasListeners();

    /// <summary>The context carried in <paramref name="userProperties"/>; default when there is none or it is not valid W3C.</summary>
    public static ActivityContext ContextOf(IReadOnlyList<KeyValuePair<string, string>> userProperties)
    {
        ArgumentNullException.ThrowIfNull(userProperties);
        string? parent = null;
        string? state = null;
        foreach (var (name, value) in userProperties)
        {
            if (parent is null && string.Equals(name, TraceParent, StringComparison.Ordinal))
            {
                parent = value;
            }
            else if (state is null && string.Equals(name, TraceState, StringComparison.Ordinal))
            {
                state = value;
            }
        }

        return parent is not null && ActivityContext.TryParse(parent, state, isRemote: true, out var context) ? context : default;
    }

    /// <summary>The W3C <c>traceparent</c> of <paramref name="context"/>; null for the default context.</summary>
    public static string? TraceParentOf(ActivityContext context) =>
        context == default ? null : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{(context.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? "01" : "00")}";

    /// <summary>
    /// Starts a span for <paramref name="message"/> entering the platform: the parent is the current span, else the
    /// context the message carries. Null when no listener samples it.
    /// </summary>
    public static Activity? StartFor(string name, ActivityKind kind, IRoutedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var parent = Activity.Current is { } current ? current.Context : ContextOf(message.UserProperties);
        var activity = Source.StartActivity(name, kind, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "mqtt");
            activity.SetTag("messaging.destination.name", message.Topic);
            if (message.SourceClientId is { } client)
            {
                activity.SetTag("messaging.client.id", client);
            }
        }

        return activity;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with <paramref name="activity"/> current, ends the span when the returned task
    /// completes (an error status if it failed; at once if <paramref name="work"/> throws) and gives the caller's thread
    /// <paramref name="previous"/> back as its current span.
    /// </summary>
    public static Task Run<TState>(Activity activity, Activity? previous, TState state, Func<TState, Task> work)
    {
        ArgumentNullException.ThrowIfNull(activity);
        ArgumentNullException.ThrowIfNull(work);
        Task task;
        try
        {
            task = work(state);
        }
        catch (Exception ex)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity.Stop();
            Activity.Current = previous;
            throw;
        }

        if (task.IsCompleted)
        {
            Stop(activity, task);
        }
        else
        {
            task.ContinueWith(static (done, state) => Stop((Activity)state!, done), activity, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        Activity.Current = previous;
        return task;
    }

    private static void Stop(Activity activity, Task work)
    {
        if (work.IsFaulted)
        {
            activity.SetStatus(ActivityStatusCode.Error, work.Exception?.InnerException?.Message);
        }

        activity.Stop();
    }
}
