using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Iot.Cli.Http;

/// <summary>
/// The broker's HTTP API as <c>iot</c> uses it: one <see cref="HttpClient"/>, the API key in <c>X-Api-Key</c>, a time
/// limit per request, and every failure turned into what the command reports: an API error with the problem details'
/// title and detail (<see cref="ApiException"/>), or no answer at all (<see cref="UnreachableException"/>).
/// </summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _base;
    private readonly TimeSpan _timeout;

    /// <summary>A client of the broker at <paramref name="baseUri"/> (its path, if any, is kept as a prefix).</summary>
    public ApiClient(Uri baseUri, string? apiKey, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        _base = baseUri.AbsoluteUri.TrimEnd('/');
        _timeout = timeout;

        // The time limit is applied per request (with room for the long polls that ask for it), not by HttpClient.
        _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("iot-cli", "1.0"));
        if (!string.IsNullOrEmpty(apiKey))
        {
            _http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }
    }

    /// <summary>The broker's address, for messages.</summary>
    public string BaseAddress => _base;

    /// <summary><c>GET</c> <paramref name="path"/> (starting with <c>/</c>, query included).</summary>
    public Task<ApiResponse> GetAsync(string path, CancellationToken cancellationToken, TimeSpan longPoll = default) =>
        SendAsync(HttpMethod.Get, path, null, cancellationToken, longPoll);

    /// <summary>A request with a JSON body (none when <paramref name="json"/> is null).</summary>
    public Task<ApiResponse> SendJsonAsync(HttpMethod method, string path, object? json, CancellationToken cancellationToken, TimeSpan longPoll = default) =>
        SendAsync(method, path, json is null ? null : JsonContent(json), cancellationToken, longPoll);

    /// <summary>
    /// Sends a request and returns a 2xx answer. <paramref name="longPoll"/> is how long the API was asked to wait
    /// (a receive's <c>maxWaitTime</c>, a command's <c>wait</c>): the time limit is <c>--timeout</c> on top of it.
    /// </summary>
    /// <exception cref="ApiException">The API answered with an error status.</exception>
    /// <exception cref="UnreachableException">No connection, or no answer in time.</exception>
    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, TimeSpan longPoll = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(path);
        using var request = new HttpRequestMessage(method, _base + path) { Content = content };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var limit = _timeout + longPoll;
        deadline.CancelAfter(limit);
        try
        {
            using var response = await _http.SendAsync(request, deadline.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
            var answer = new ApiResponse((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType, response.Headers.Location);
            return response.IsSuccessStatusCode ? answer : throw ApiException.From(answer, response.ReasonPhrase);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UnreachableException($"{_base} did not answer {method} {path} within {Durations.ToSeconds(limit)} s (--timeout).");
        }
        catch (HttpRequestException ex)
        {
            throw new UnreachableException($"Cannot reach {_base}: {Describe(ex)}", ex);
        }
    }

    /// <summary>
    /// <c>GET</c> <paramref name="path"/> and copies a 2xx answer's body, as bytes, into <paramref name="destination"/>;
    /// the time limit covers the answer's start, not the whole transfer.
    /// </summary>
    /// <exception cref="ApiException">The API answered with an error status.</exception>
    /// <exception cref="UnreachableException">No connection, or no answer in time.</exception>
    public async Task<long> DownloadAsync(string path, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var request = new HttpRequestMessage(HttpMethod.Get, _base + path);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
                throw ApiException.From(new ApiResponse((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType, response.Headers.Location), response.ReasonPhrase);
            }

            deadline.CancelAfter(Timeout.InfiniteTimeSpan);
            await using var content = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var before = destination.CanSeek ? destination.Position : 0;
            await content.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
            return destination.CanSeek ? destination.Position - before : -1;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UnreachableException($"{_base} did not answer GET {path} within {Durations.ToSeconds(_timeout)} s (--timeout).");
        }
        catch (HttpRequestException ex)
        {
            throw new UnreachableException($"Cannot reach {_base}: {Describe(ex)}", ex);
        }
    }

    /// <summary>A JSON body in the API's naming (camelCase).</summary>
    public static StringContent JsonContent(object value) =>
        new(JsonSerializer.Serialize(value, CliJson.Options), Encoding.UTF8, "application/json");

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();

    private static string Describe(HttpRequestException ex)
    {
        // The innermost message names the cause (connection refused, name not resolved); the outer one repeats the host.
        var message = ex.Message;
        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message = inner.Message;
        }

        return ex.HttpRequestError == HttpRequestError.Unknown ? message : $"{message} ({ex.HttpRequestError})";
    }
}
