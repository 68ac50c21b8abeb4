namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The ids of one origin node's messages seen lately, so that the copies overlapping NATS subscriptions bring are
/// delivered once: a sliding window of <see cref="Size"/> ids below the highest seen. Not thread-safe (its owner locks).
/// </summary>
/// <remarks>
/// An origin numbers its messages upwards and NATS keeps one origin's order towards a subscriber connection, so copies of a
/// message arrive before any copy of a much later one; the window only absorbs the small reordering between the origin's
/// publishing threads. An id older than the window is taken as already seen (dropped and counted, never delivered twice).
/// </remarks>
internal sealed class OriginWindow
{
    /// <summary>How many ids below the highest are remembered.</summary>
    public const int Size = 4096;

    private readonly ulong[] _bits = new ulong[Size / 64];
    private ulong _highest;
    private bool _any;

    /// <summary>True the first time <paramref name="id"/> is seen (and remembers it); false for a copy, or an id too old to tell.</summary>
    public bool TryAccept(ulong id)
    {
        if (!_any || id > _highest)
        {
            var distance = _any ? id - _highest : ulong.MaxValue;
            if (distance >= Size)
            {
                Array.Clear(_bits);
            }
            else
            {
                for (var next = _highest + 1; next < id; next++)
                {
                    Clear(next);
                }
            }

            _any = true;
            _highest = id;
            Set(id);
            return true;
        }

        if (_highest - id >= Size || IsSet(id))
        {
            return false;
        }

        Set(id);
        return true;
    }

    private void Set(ulong id) => _bits[(int)(id % Size / 64)] |= 1UL << (int)(id % 64);

    private void Clear(ulong id) => _bits[(int)(id % Size / 64)] &= ~(1UL << (int)(id % 64));

    private bool IsSet(ulong id) => (_bits[(int)(id % Size / 64)] & (1UL << (int)(id % 64))) != 0;
}
