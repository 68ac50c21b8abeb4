using Iot.Streams.Partitioning;

namespace Iot.Streams.Tests.Partitioning;

public sealed class HashPartitionMapperTests
{
    [Fact]
    public void MapToPartition_SameKey_SamePartitionAcrossInstances()
    {
        var a = new HashPartitionMapper();
        var b = new HashPartitionMapper();
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(a.MapToPartition($"dev-{i}", 8), b.MapToPartition($"dev-{i}", 8));
        }
    }

    [Fact]
    public void MapToPartition_KnownValues_StableAcrossVersions()
    {
        // XxHash32 (seed 0) of the UTF-8 key, modulo the partition count: fixed values guard against a silent change.
        var mapper = new HashPartitionMapper();
        var expected = new[] { "dev-1", "dev-2", "sensor/42", "ü" }.Select(k => (int)(System.IO.Hashing.XxHash32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(k)) % 16u));
        Assert.Equal(expected, new[] { "dev-1", "dev-2", "sensor/42", "ü" }.Select(k => mapper.MapToPartition(k, 16)));
    }

    [Fact]
    public void MapToPartition_ManyKeys_SpreadOverAllPartitions()
    {
        var mapper = new HashPartitionMapper();
        var counts = new int[4];
        for (int i = 0; i < 4000; i++)
        {
            counts[mapper.MapToPartition($"device-{i}", 4)]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public void MapToPartition_NullKey_RoundRobin()
    {
        var mapper = new HashPartitionMapper();
        Assert.Equal([0, 1, 2, 0, 1], Enumerable.Range(0, 5).Select(_ => mapper.MapToPartition(null, 3)));
    }

    [Theory]
    [InlineData("devices/dev-1/telemetry", "dev-1")]
    [InlineData("devices/dev-1", "dev-1")]
    [InlineData("devices//telemetry", null)]
    [InlineData("other/dev-1/telemetry", null)]
    public void DeviceIdFromTopic_Topics(string topic, string? expected) => Assert.Equal(expected, StreamKeys.DeviceIdFromTopic(topic));
}
