using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;

namespace Iot.Streams.Aggregation;

/// <summary>The Rx operator that drives a <see cref="WindowEngine"/> from a sequence of events and an <see cref="IScheduler"/>.</summary>
internal static class WindowOperator
{
    /// <summary>
    /// Feeds each event to <paramref name="engine"/> and emits the windows it closes. With <paramref name="idleTick"/>
    /// set, a periodic action on <paramref name="scheduler"/> advances the watermark by the time since the last event,
    /// so the windows of an idle partition close too. Calls into the engine hold <see cref="WindowEngine.Gate"/>.
    /// </summary>
    public static IObservable<AggregateResult> AggregateWindows(this IObservable<WindowInput> source, WindowEngine engine,
        IScheduler scheduler, TimeSpan? idleTick) =>
        Observable.Create<AggregateResult>(observer =>
        {
            var output = new List<AggregateResult>();
            var lastArrival = scheduler.Now;

            void Flush()
            {
                foreach (var result in output)
                {
                    observer.OnNext(result);
                }

                output.Clear();
            }

            var timer = idleTick is { } tick
                ? scheduler.SchedulePeriodic(tick, () =>
                {
                    lock (engine.Gate)
                    {
                        engine.AdvanceIdle(scheduler.Now - lastArrival, output);
                        Flush();
                    }
                })
                : Disposable.Empty;
            var subscription = source.Subscribe(
                input =>
                {
                    lock (engine.Gate)
                    {
                        lastArrival = scheduler.Now;
                        engine.OnEvent(input, output);
                        Flush();
                    }
                },
                observer.OnError,
                observer.OnCompleted);
            return new CompositeDisposable(subscription, timer);
        });
}
