using Iot.Simulator.Devices;
using Iot.Simulator.Signals;

namespace Iot.Simulator.Tests;

public sealed class SignalTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static IEnumerable<DateTimeOffset> Every(TimeSpan step, int count) =>
        Enumerable.Range(0, count).Select(i => Start + (step * i));

    [Fact]
    public void TemperatureNext_SameSeedSameTimes_SameSequence()
    {
        var first = new TemperatureSignal(new Random(42), 21, 3, 0.2, TimeSpan.FromMinutes(2));
        var second = new TemperatureSignal(new Random(42), 21, 3, 0.2, TimeSpan.FromMinutes(2));
        var times = Every(TimeSpan.FromSeconds(1), 500).ToList();

        Assert.Equal(times.Select(first.Next), times.Select(second.Next));
    }

    [Fact]
    public void TemperatureNext_OtherSeed_OtherSequence()
    {
        var first = new TemperatureSignal(new Random(1), 21, 3, 0.2, TimeSpan.FromMinutes(2));
        var second = new TemperatureSignal(new Random(2), 21, 3, 0.2, TimeSpan.FromMinutes(2));
        var times = Every(TimeSpan.FromSeconds(1), 50).ToList();

        Assert.NotEqual(times.Select(first.Next), times.Select(second.Next));
    }

    [Fact]
    public void TemperatureNext_OneDayEveryMinute_StaysNearSetPointWithDailyCycle()
    {
        var signal = new TemperatureSignal(new Random(7), 21, 3, 0.2, TimeSpan.FromMinutes(2));
        var day = Every(TimeSpan.FromMinutes(1), 24 * 60).Select(t => (Time: t, Value: signal.Next(t))).ToList();

        Assert.All(day, s => Assert.InRange(s.Value, 21 - 6, 21 + 6));

        // Warmest in the afternoon, coldest before dawn (UTC clock), by about twice the amplitude.
        var afternoon = day.Where(s => s.Time.Hour is 14 or 15 or 16).Average(s => s.Value);
        var night = day.Where(s => s.Time.Hour is 2 or 3 or 4).Average(s => s.Value);
        Assert.InRange(afternoon - night, 4, 8);
    }

    [Fact]
    public void DailyCycle_At15And03Utc_HighestAndLowest()
    {
        var signal = new TemperatureSignal(new Random(1), 21, 3, 0, TimeSpan.FromMinutes(1));

        Assert.Equal(3, signal.DailyCycle(Start.AddHours(15)), 9);
        Assert.Equal(-3, signal.DailyCycle(Start.AddHours(3)), 9);
        Assert.Equal(0, signal.DailyCycle(Start.AddHours(9)), 9);
    }

    [Fact]
    public void TemperatureNext_NoiseOnly_StandardDeviationAsConfigured()
    {
        var signal = new TemperatureSignal(new Random(3), 20, 0, 0.5, TimeSpan.FromMinutes(1));
        var samples = Enumerable.Range(0, 5000).Select(_ => signal.Next(Start)).ToList();
        var mean = samples.Average();
        var deviation = Math.Sqrt(samples.Average(v => (v - mean) * (v - mean)));

        Assert.InRange(mean, 19.95, 20.05);
        Assert.InRange(deviation, 0.45, 0.55);
    }

    [Fact]
    public void TemperatureTarget_Raised_SetPointFollowsWithTimeConstant()
    {
        var signal = new TemperatureSignal(new Random(5), 20, 0, 0, TimeSpan.FromSeconds(30));
        signal.Next(Start);
        signal.Target = 30;

        signal.Next(Start.AddSeconds(30));
        Assert.InRange(signal.SetPoint, 26.0, 26.7); // 1 - e^-1 of the way
        signal.Next(Start.AddMinutes(5));
        Assert.InRange(signal.SetPoint, 29.99, 30);
    }

    [Fact]
    public void HumidityNext_WarmerThanReference_LowerAndClamped()
    {
        var humidity = new HumiditySignal(new Random(1), 50, 21);
        var cool = Enumerable.Range(0, 200).Average(_ => humidity.Next(19));
        var warm = Enumerable.Range(0, 200).Average(_ => humidity.Next(25));

        Assert.InRange(cool - warm, 6 * HumiditySignal.PerDegree * 0.9, 6 * HumiditySignal.PerDegree * 1.1);
        Assert.Equal(0, humidity.Next(100));
        Assert.Equal(100, humidity.Next(-100));
    }

    [Fact]
    public void BatteryNext_Drains_CrossesLowOnceAndStopsAtZero()
    {
        var battery = new BatterySignal(initial: 21.05, drainPerHour: 1, costPerMessage: 0);
        var crossings = new List<DateTimeOffset>();
        var levels = new List<double>();
        foreach (var time in Every(TimeSpan.FromMinutes(10), 24 * 6 * 2))
        {
            levels.Add(battery.Next(time, out var crossedLow));
            if (crossedLow)
            {
                crossings.Add(time);
            }
        }

        Assert.Equal(levels.OrderByDescending(l => l), levels);
        var crossing = Assert.Single(crossings);
        Assert.Equal(Start.AddHours(1).AddMinutes(10), crossing); // 21 - 1 %/h: under 20 after the first hour
        Assert.Equal(0, levels[^1]);
    }

    [Fact]
    public void ThresholdUpdate_CrossingUpAndDown_RaisedOnceClearedOnceWithHysteresis()
    {
        var detector = new ThresholdDetector(28, 0.5);
        double[] values = [27, 28.1, 29, 27.8, 28.2, 27.4, 27, 28.5];

        var crossings = values.Select(detector.Update).ToList();

        Assert.Equal(
            [ThresholdCrossing.None, ThresholdCrossing.Raised, ThresholdCrossing.None, ThresholdCrossing.None, ThresholdCrossing.None,
             ThresholdCrossing.Cleared, ThresholdCrossing.None, ThresholdCrossing.Raised],
            crossings);
    }

    [Fact]
    public void DoorNext_TwoOpeningsPerMinuteForAnHour_AboutOneHundredTwentyOpeningsEachClosed()
    {
        var door = new DoorSignal(new Random(11), openingsPerMinute: 2);
        var changes = Every(TimeSpan.FromSeconds(1), 3600).Select(door.Next).Where(c => c is not null).Select(c => c!.Value).ToList();
        var openings = changes.Count(c => c);

        // Open time (2-30 s) is not counted as waiting, so fewer than 2 x 60; alternating open/close.
        Assert.InRange(openings, 60, 130);
        Assert.All(changes.Where((_, i) => i % 2 == 0), Assert.True);
        Assert.All(changes.Where((_, i) => i % 2 == 1), Assert.False);
    }

    [Fact]
    public void DoorNext_ZeroRate_NeverOpens()
    {
        var door = new DoorSignal(new Random(11), openingsPerMinute: 0);

        Assert.All(Every(TimeSpan.FromSeconds(1), 1000).Select(door.Next), c => Assert.Null(c));
    }

    [Fact]
    public void ModelSample_EachKind_HasItsFields()
    {
        var thermostat = new DeviceModel(DeviceKind.Thermostat, new Random(1), 28, 1).Sample(Start);
        var environment = new DeviceModel(DeviceKind.Environment, new Random(1), 28, 1).Sample(Start);
        var door = new DeviceModel(DeviceKind.Door, new Random(1), 28, 1).Sample(Start);

        Assert.Equal(["temperature", "humidity"], thermostat.Fields.Select(f => f.Key));
        Assert.Equal(["temperature", "humidity", "battery"], environment.Fields.Select(f => f.Key));
        Assert.Equal(["temperature", "battery", "door"], door.Fields.Select(f => f.Key));
        Assert.All(environment.Fields, f => Assert.InRange(f.Value, 0, 100));
    }

    [Fact]
    public void ModelSample_TargetAboveAlarmThreshold_RaisesTemperatureAlarmOnce()
    {
        var model = new DeviceModel(DeviceKind.Thermostat, new Random(1), alarmThreshold: 28, doorOpeningsPerMinute: 0);
        model.Sample(Start);
        model.TargetTemperature = 35;

        var events = Every(TimeSpan.FromSeconds(10), 60).Skip(1).SelectMany(t => model.Sample(t).Events).ToList();

        var alarm = Assert.Single(events);
        Assert.Equal("temperatureAlarm", alarm.Type);
        Assert.Contains(new KeyValuePair<string, object>("state", "raised"), alarm.Fields);
    }

    [Fact]
    public void ModelSample_SameSeed_SameReadingsAndEvents()
    {
        static string Run(DeviceModel model) => string.Join(";", Every(TimeSpan.FromSeconds(5), 2000).Select(t =>
        {
            var sample = model.Sample(t);
            return string.Join(",", sample.Fields.Select(f => f.Value)) + string.Join(",", sample.Events.Select(e => e.Type));
        }));

        var first = Run(new DeviceModel(DeviceKind.Door, new Random(9), 28, 3));

        Assert.Equal(first, Run(new DeviceModel(DeviceKind.Door, new Random(9), 28, 3)));
        Assert.Contains("doorOpened", first, StringComparison.Ordinal);
    }
}
