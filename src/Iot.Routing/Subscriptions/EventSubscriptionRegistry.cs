using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Iot.Messaging;
using Iot.Messaging.Topics;
using Iot.Routing.Internal;
using Iot.Routing.Rules;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// The event subscriptions: stored in <see cref="IRoutingDefinitionStore"/>, matched by subject through a <see cref="TopicTree{T}"/>.
/// <see cref="Changed"/> tells the webhook delivery service to start, restart or stop a subscription's loop.
/// </summary>
internal sealed class EventSubscriptionRegistry : IDisposable
{
    private const string Table = "subscriptions";
    private readonly TopicTree<CompiledEventSubscription> _tree = new();
    private readonly ConcurrentDictionary<string, CompiledEventSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly IRoutingDefinitionStore _store;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public EventSubscriptionRegistry(IRoutingDefinitionStore store)
    {
        _store = store;
        foreach (var (name, json) in store.ReadDefinitions(Table))
        {
            // One unreadable row costs that subscription only; the start-up log names it (IRoutingDefinitionStore.SkippedDefinitions).
            string? error;
            try
            {
                var definition = JsonSerializer.Deserialize<EventSubscriptionDefinition>(json, RoutingJson.Options);
                if (TryCompile(definition, out var subscription, out error))
                {
                    _tree.Add(subscription.Definition.Filter.TopicFilter, subscription);
                    _subscriptions[subscription.Name] = subscription;
                    continue;
                }
            }
            catch (JsonException ex)
            {
                error = ex.Message;
            }

            store.SkippedDefinitions.Enqueue((Table, name, error ?? "the definition is not valid"));
        }
    }

    /// <summary>Raised after a change was stored: (previous, current); either may be null.</summary>
    public event Action<CompiledEventSubscription?, CompiledEventSubscription?>? Changed;

    /// <summary>All subscriptions, by name.</summary>
    public IReadOnlyList<CompiledEventSubscription> All => [.. _subscriptions.Values.OrderBy(s => s.Name, StringComparer.Ordinal)];

    public int Count => _subscriptions.Count;

    public bool TryGet(string name, [NotNullWhen(true)] out CompiledEventSubscription? subscription) =>
        _subscriptions.TryGetValue(name, out subscription);

    /// <summary>Adds the subscriptions whose topic filter matches <paramref name="topic"/>.</summary>
    public void Match(string topic, List<CompiledEventSubscription> results) => _tree.Match(topic, results);

    public async Task<(ChangeOutcome Outcome, string? Error)> UpsertAsync(EventSubscriptionDefinition definition)
    {
        if (!TryCompile(definition, out var subscription, out var error))
        {
            return (ChangeOutcome.Invalid, error);
        }

        CompiledEventSubscription? previous;
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _store.SaveDefinitionAsync(Table, subscription.Name, JsonSerializer.Serialize(definition, RoutingJson.Options)).ConfigureAwait(false);
            _subscriptions.TryGetValue(subscription.Name, out previous);
            _tree.Add(definition.Filter.TopicFilter, subscription);
            _subscriptions[subscription.Name] = subscription;
            if (previous is not null)
            {
                _tree.Remove(previous.Definition.Filter.TopicFilter, previous);
            }

            // Under the lock: the delivery service sees changes in the order they were stored.
            Changed?.Invoke(previous, subscription);
        }
        finally
        {
            _writeLock.Release();
        }

        return (previous is null ? ChangeOutcome.Created : ChangeOutcome.Replaced, null);
    }

    public async Task<(ChangeOutcome Outcome, string? Error)> DeleteAsync(string name)
    {
        CompiledEventSubscription? previous;
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_subscriptions.TryGetValue(name, out previous))
            {
                return (ChangeOutcome.NotFound, $"There is no subscription named '{name}'.");
            }

            // Out of the tree first: no new deliveries are recorded for it while its rows are deleted.
            _tree.Remove(previous.Definition.Filter.TopicFilter, previous);
            _subscriptions.TryRemove(name, out _);
            await _store.DeleteDefinitionAsync(Table, name).ConfigureAwait(false);
            Changed?.Invoke(previous, null);
        }
        finally
        {
            _writeLock.Release();
        }

        return (ChangeOutcome.Deleted, null);
    }

    /// <summary>
    /// Applies a subscription as another node stored it (cluster mode; <paramref name="definition"/> null: deleted),
    /// under the write lock and with <see cref="Changed"/> raised as for a local change, so the delivery service follows
    /// it. <paramref name="isSuperseded"/> (a lookup, called under the lock) says this node stored that subscription at
    /// the same revision or later, which is then in force already. The error when it cannot be applied.
    /// </summary>
    public async Task<string?> ApplyStoredAsync(string name, string? definition, Func<bool> isSuperseded)
    {
        ArgumentNullException.ThrowIfNull(isSuperseded);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (isSuperseded())
            {
                return null;
            }

            _subscriptions.TryGetValue(name, out var previous);
            if (definition is null)
            {
                if (previous is not null)
                {
                    _tree.Remove(previous.Definition.Filter.TopicFilter, previous);
                    _subscriptions.TryRemove(name, out _);
                    Changed?.Invoke(previous, null);
                }

                return null;
            }

            string? error;
            try
            {
                var parsed = JsonSerializer.Deserialize<EventSubscriptionDefinition>(definition, RoutingJson.Options);
                if (parsed is not null && parsed.Name != name)
                {
                    return $"the definition's name '{parsed.Name}' differs from its key's '{name}'";
                }

                if (!TryCompile(parsed, out var subscription, out error))
                {
                    return error;
                }

                // The same definition again (this node's own write coming back, or a reload): nothing changes.
                if (previous is not null && JsonSerializer.Serialize(previous.Definition, RoutingJson.Options)
                    == JsonSerializer.Serialize(subscription.Definition, RoutingJson.Options))
                {
                    return null;
                }

                _tree.Add(subscription.Definition.Filter.TopicFilter, subscription);
                _subscriptions[name] = subscription;
                if (previous is not null)
                {
                    _tree.Remove(previous.Definition.Filter.TopicFilter, previous);
                }

                Changed?.Invoke(previous, subscription);
                return null;
            }
            catch (JsonException ex)
            {
                error = ex.Message;
            }

            return error;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Dispose() => _writeLock.Dispose();

    /// <summary>Checks a definition; the error names the offending field and its allowed range.</summary>
    public static bool TryCompile([NotNullWhen(true)] EventSubscriptionDefinition? definition,
        [NotNullWhen(true)] out CompiledEventSubscription? subscription, [NotNullWhen(false)] out string? error)
    {
        subscription = null;
        if (definition is null)
        {
            error = "The subscription is missing.";
            return false;
        }

        definition.Filter ??= new EventSubscriptionFilter();
        definition.Destination ??= new EventSubscriptionEndpoint();
        definition.RetryPolicy ??= new RetryPolicy();
        definition.DeadLetter ??= new DeadLetterPolicy();
        definition.Batching ??= new BatchingPolicy();
        definition.Pull ??= new PullPolicy();
        error = Check(definition);
        if (error is not null)
        {
            return false;
        }

        if (!ConditionCompiler.TryCompile(definition.Filter.Conditions, out var conditions, out error))
        {
            error = "filter." + error;
            return false;
        }

        subscription = new CompiledEventSubscription(definition, conditions);
        return true;
    }

    private static string? Check(EventSubscriptionDefinition definition)
    {
        if (!RouteTable.IsValidName(definition.Name))
        {
            return $"name '{definition.Name}' is invalid: " + ResourceNames.Validate(definition.Name, "name");
        }

        var filter = definition.Filter.TopicFilter;
        if (!TopicNames.IsValidTopicFilter(filter) || TopicNames.IsSharedSubscription(filter))
        {
            return $"filter.topicFilter '{filter}' is not a valid MQTT topic filter.";
        }

        var destination = definition.Destination;
        switch (destination.Kind)
        {
            case EventDeliveryKind.Webhook when destination.EndpointUrl is not { IsAbsoluteUri: true } url
                || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps):
                return "destination.endpointUrl must be an absolute http or https URL for a webhook destination.";
            case EventDeliveryKind.Mqtt when !TopicNames.IsValidTopicName(destination.Topic):
                return "destination.topic must be a valid MQTT topic name (no wildcards) for an mqtt destination.";
            case EventDeliveryKind.Mqtt when destination.QualityOfService > 2:
                return "destination.qualityOfService must be 0, 1 or 2.";
            case not (EventDeliveryKind.Webhook or EventDeliveryKind.Pull or EventDeliveryKind.Mqtt):
                return "destination.kind must be webhook, pull or mqtt.";
        }

        if (definition.RetryPolicy.MaxDeliveryAttempts is < 1 or > 30)
        {
            return "retryPolicy.maxDeliveryAttempts must be between 1 and 30.";
        }

        if (definition.RetryPolicy.EventTtl < TimeSpan.FromMinutes(1) || definition.RetryPolicy.EventTtl > TimeSpan.FromDays(7))
        {
            return "retryPolicy.eventTtl must be between 00:01:00 and 7.00:00:00.";
        }

        if (definition.Batching.MaxEventsPerBatch is < 1 or > 5000)
        {
            return "batching.maxEventsPerBatch must be between 1 and 5000.";
        }

        if (definition.Batching.PreferredBatchSizeInKilobytes is < 1 or > 1024)
        {
            return "batching.preferredBatchSizeInKilobytes must be between 1 and 1024.";
        }

        if (definition.Pull.LockDuration < TimeSpan.FromSeconds(60) || definition.Pull.LockDuration > TimeSpan.FromSeconds(300))
        {
            return "pull.lockDuration must be between 00:01:00 and 00:05:00.";
        }

        if (definition.Pull.MaxDeliveryCount is < 1 or > 100)
        {
            return "pull.maxDeliveryCount must be between 1 and 100.";
        }

        return null;
    }
}
