namespace Iot.Broker.Mqtt;

/// <summary>Collects the durable writes a publish must wait for before it is acknowledged; no allocation in the common case.</summary>
internal struct DurableWrites
{
    private Task? _first;
    private List<Task>? _more;

    public void Add(Task write)
    {
        if (write.IsCompletedSuccessfully || ReferenceEquals(write, _first))
        {
            return;
        }

        if (_first is null)
        {
            _first = write;
            return;
        }

        _more ??= [];
        if (!_more.Contains(write))
        {
            _more.Add(write);
        }
    }

    public readonly Task ToTask()
    {
        if (_first is null)
        {
            return Task.CompletedTask;
        }

        if (_more is null)
        {
            return _first;
        }

        return Task.WhenAll([_first, .. _more]);
    }
}
