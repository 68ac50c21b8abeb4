using Iot.Messaging.Topics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// The claim check: decides what is claim-checked, stores a payload (pending, durable, then committed: a message
/// never refers to a blob that is not committed), makes references with a fresh time-limited URL and reads blobs back.
/// The MQTT bridge (<c>Iot.Broker</c>) and the queue HTTP API use it; the <see cref="ClaimCheckSweeper"/> deletes.
/// </summary>
internal sealed class ClaimCheckService
{
    private readonly IClaimCheckStore _store;
    private readonly ClaimCheckMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<ClaimCheckService> _logger;
    private readonly string[] _topics;

    public ClaimCheckService(IClaimCheckStore store, IOptions<ClaimCheckOptions> options, ClaimCheckMetrics metrics,
        ClaimCheckUrlSigner signer, TimeProvider time, ILogger<ClaimCheckService> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        Options = options.Value;
        _metrics = metrics;
        Signer = signer;
        _time = time;
        _logger = logger;
        _topics = Options.Enabled ? [.. Options.Topics] : [];
    }

    public ClaimCheckOptions Options { get; }

    public ClaimCheckUrlSigner Signer { get; }

    /// <summary>Whether HTTP queue sends larger than the threshold are claim-checked.</summary>
    public bool AppliesToQueueSends => Options.Enabled && Options.QueueSends;

    /// <summary>Whether an MQTT publish of <paramref name="length"/> bytes on <paramref name="topic"/> is claim-checked.</summary>
    public bool AppliesToTopic(string topic, int length)
    {
        if (length <= Options.ThresholdBytes || _topics.Length == 0)
        {
            return false;
        }

        foreach (var filter in _topics)
        {
            if (TopicNames.Matches(topic, filter))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Stores <paramref name="content"/> as a new blob, durably, and commits it; returns the reference to put in the
    /// message. Call <see cref="DiscardAsync"/> when the message is then not written.
    /// </summary>
    public async Task<ClaimCheckReference> StoreAsync(Stream content, string? contentType, CancellationToken cancellationToken)
    {
        var id = ClaimCheckIds.New();
        long length;
        try
        {
            length = await _store.WritePendingAsync(id, content, cancellationToken).ConfigureAwait(false);
            if (!await _store.CommitAsync(id, cancellationToken).ConfigureAwait(false))
            {
                throw new IOException($"Claim-check blob {id} was written but could not be committed.");
            }
        }
        catch (Exception)
        {
            await _store.DeleteAsync(id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        _metrics.Stored.Add(1);
        _metrics.StoredBytes.Add(length);
        ClaimCheckLog.Stored(_logger, id, length);
        return CreateReference(id, length, contentType);
    }

    /// <summary>A reference to the committed blob <paramref name="id"/> with a URL valid for <see cref="ClaimCheckOptions.UrlLifetime"/> from now.</summary>
    public ClaimCheckReference CreateReference(string id, long size, string? contentType)
    {
        var expiresAt = _time.GetUtcNow() + Options.UrlLifetime;
        var url = _store.CreateReadUri(id, expiresAt)?.ToString()
            ?? (Options.PublicBaseUrl is { } baseUrl
                ? new Uri(baseUrl, Signer.CreatePathAndQuery(id, expiresAt)).ToString()
                : Signer.CreatePathAndQuery(id, expiresAt));
        return new ClaimCheckReference(id, size, contentType, url, expiresAt);
    }

    /// <summary>Deletes a blob whose message was not written (refused, failed), so that it is not kept until the retention.</summary>
    public async Task DiscardAsync(string id)
    {
        try
        {
            if (await _store.DeleteAsync(id, CancellationToken.None).ConfigureAwait(false))
            {
                _metrics.Deleted.Add(1);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Azure.RequestFailedException)
        {
            // The sweeper deletes it at the retention.
            ClaimCheckLog.DiscardFailed(_logger, id, e);
        }
    }

    /// <summary>The whole payload of <paramref name="id"/>; null when the blob is gone (past its retention).</summary>
    public async Task<byte[]?> ResolveAsync(string id, CancellationToken cancellationToken)
    {
        var stream = await OpenAsync(id, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }

    /// <summary>Opens the payload of <paramref name="id"/> for reading (counted as resolved); null when it is gone.</summary>
    public async Task<Stream?> OpenAsync(string id, CancellationToken cancellationToken)
    {
        if (!Options.Enabled || !ClaimCheckIds.IsValid(id))
        {
            return null;
        }

        var stream = await _store.OpenReadAsync(id, cancellationToken).ConfigureAwait(false);
        if (stream is not null)
        {
            _metrics.Resolved.Add(1);
        }

        return stream;
    }
}
