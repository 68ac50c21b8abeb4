namespace Iot.Broker.Cluster.Live;

/// <summary>Registers the live path across nodes (cluster mode only: called from <see cref="ClusterServiceCollectionExtensions.AddIotCluster"/>).</summary>
internal static class LiveServiceCollectionExtensions
{
    /// <summary>The subject prefix of live messages: a topic <c>a/b</c> travels on <c>iot.m.t.a.b</c> (<see cref="TopicSubjects"/>).</summary>
    public const string SubjectPrefix = "iot.m";

    public static IServiceCollection AddClusterLive(this IServiceCollection services)
    {
        services.AddSingleton(new LiveInterest(SubjectPrefix));
        services.AddSingleton<ISubscriptionObserver>(sp => sp.GetRequiredService<LiveInterest>());
        services.AddSingleton<LiveConnection>();
        services.AddSingleton<ILiveLink, LiveLink>();
        services.AddSingleton<LiveReceiver>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveReceiver>());
        return services;
    }
}
