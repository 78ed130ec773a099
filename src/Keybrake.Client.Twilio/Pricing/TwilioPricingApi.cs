using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio;

/// <summary>
/// Per-country SMS rates from Twilio's Pricing API (<see cref="TwilioPricingApiOptions"/>), cached per account and
/// country for <see cref="TwilioPricingApiOptions.CacheDuration"/>. Concurrent messages to a country share one fetch.
/// A fetch that fails (an error status, a timeout, an answer it cannot read or one not in USD) is remembered for a
/// short while so that an outage costs each country one timeout, not one per message; the caller then uses the
/// shipped table. A failure is logged once per episode, and its end once.
/// </summary>
/// <remarks>
/// The request goes straight to <c>https://pricing.twilio.com</c> (or the key's stand-in), not through the guard:
/// it is the guard's own question, so it is neither an agent's call to check nor one to count against its rate
/// limit. The secret goes in its Basic credential only, to a host under <c>twilio.com</c> that the secret may reach.
/// </remarks>
internal sealed partial class TwilioPricingApi
{
    /// <summary>The named <see cref="HttpClient"/> the fetches use: no guard, no retries, no redirects.</summary>
    public const string HttpClientName = "Keybrake.Twilio.Pricing";

    /// <summary>Twilio's Pricing API host.</summary>
    public static readonly Uri PricingHost = new("https://pricing.twilio.com");

    /// <summary>
    /// The most (account, country) entries kept. The account is the request's user name, which the agent's code
    /// chooses: past the bound, expired entries are dropped, and a new entry is used once without being kept.
    /// </summary>
    internal const int MaxEntries = 4096;

    /// <summary>The longest a failed fetch is remembered before the country is asked again.</summary>
    private static readonly TimeSpan s_retryAfterFailure = TimeSpan.FromMinutes(1);

    private readonly TwilioPricingApiOptions _settings;
    private readonly IHttpClientFactory _clients;
    private readonly TimeProvider _time;
    private readonly ILogger<TwilioPricingApi> _logger;
    private readonly ConcurrentDictionary<CacheKey, Entry> _cache = new();
    private readonly ConcurrentDictionary<CacheKey, Lazy<Task<Entry>>> _fetching = new();

    public TwilioPricingApi(IOptions<KeybrakeTwilioOptions> options, IHttpClientFactory clients, TimeProvider time, ILogger<TwilioPricingApi> logger)
    {
        _settings = options.Value.PricingApi ?? new TwilioPricingApiOptions();
        _clients = clients;
        _time = time;
        _logger = logger;
    }

    public bool Enabled => _settings.Enabled;

    /// <summary>
    /// The rate per SMS segment to <paramref name="country"/> for a sender of <paramref name="numberType"/>, from the
    /// cache or a fetch; <see langword="null"/> when the API cannot say (the caller uses the shipped table).
    /// </summary>
    public async ValueTask<Usd?> GetSmsRateAsync(string country, string username, VendorCredential credential, string? numberType, CancellationToken cancellationToken)
    {
        var key = new CacheKey(credential.StandIn ?? PricingHost, username, country);
        var now = _time.GetUtcNow();
        if (!_cache.TryGetValue(key, out var entry) || entry.ExpiresAt <= now)
        {
            entry = await FetchOnceAsync(key, credential.Secret).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return entry.Prices?.RateFor(numberType);
    }

    /// <summary>One fetch per account and country at a time: every caller that finds the entry stale awaits the same one.</summary>
    private Task<Entry> FetchOnceAsync(CacheKey key, string secret)
    {
        var fetch = _fetching.GetOrAdd(key, k => new Lazy<Task<Entry>>(() => FetchAsync(k, secret)));
        return fetch.Value;
    }

    private async Task<Entry> FetchAsync(CacheKey key, string secret)
    {
        // Off the caller's stack, so that the first caller's cancellation does not cancel the others' fetch.
        await Task.Yield();
        var previous = _cache.TryGetValue(key, out var old) ? old : null;
        if (previous is not null && previous.ExpiresAt > _time.GetUtcNow())
        {
            // A caller that found the entry stale just before another fetch refreshed it: no second request.
            _fetching.TryRemove(key, out _);
            return previous;
        }

        MessagingCountryPrices? prices;
        string? problem;
        try
        {
            (prices, problem) = await RequestAsync(key, secret).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Whatever went wrong, the message still gets an estimate: the shipped table's.
            (prices, problem) = (null, "the request failed: " + exception.GetType().Name);
        }

        var now = _time.GetUtcNow();
        Entry entry;
        if (prices is not null)
        {
            if (previous is { Prices: null })
            {
                LogRecovered(_logger, key.Country);
            }

            entry = new Entry(prices, now + _settings.CacheDuration);
        }
        else
        {
            if (previous is not { Prices: null })
            {
                LogUnusable(_logger, key.Country, problem ?? "no prices");
            }

            entry = new Entry(null, now + Min(s_retryAfterFailure, _settings.CacheDuration));
        }

        // The entry first, then the fetch is done: a caller in between finds the fresh entry, not a second fetch.
        Keep(key, entry, now);
        _fetching.TryRemove(key, out _);
        return entry;
    }

    private async Task<(MessagingCountryPrices? Prices, string? Problem)> RequestAsync(CacheKey key, string secret)
    {
        using var timeout = new CancellationTokenSource(_settings.Timeout, _time);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(key.Host, "/v1/Messaging/Countries/" + key.Country));
            request.Headers.Authorization = TwilioBasicAuth.Create(key.Username, secret);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var client = _clients.CreateClient(HttpClientName);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"it answered {(int)response.StatusCode}");
            }

            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            return MessagingCountryPrices.TryParse(body, out var prices, out _, out var problem) ? (prices, null) : (null, problem);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return (null, $"it did not answer within {_settings.Timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException exception)
        {
            // The message of a connection failure names the host and the error, never the request's headers.
            return (null, "the request failed: " + (exception.HttpRequestError == HttpRequestError.Unknown ? "network error" : exception.HttpRequestError.ToString()));
        }
    }

    private void Keep(CacheKey key, Entry entry, DateTimeOffset now)
    {
        if (_cache.Count >= MaxEntries && !_cache.ContainsKey(key))
        {
            foreach (var (stale, old) in _cache)
            {
                if (old.ExpiresAt <= now)
                {
                    _cache.TryRemove(stale, out _);
                }
            }

            if (_cache.Count >= MaxEntries)
            {
                return;
            }
        }

        _cache[key] = entry;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    [LoggerMessage(242, LogLevel.Warning, "Keybrake cannot use Twilio's Pricing API for country {Country}: {Problem}. SMS there are estimated from the shipped rate table until it answers again")]
    private static partial void LogUnusable(ILogger logger, string country, string problem);

    [LoggerMessage(243, LogLevel.Information, "Twilio's Pricing API answers again for country {Country}; its prices are used for SMS estimates")]
    private static partial void LogRecovered(ILogger logger, string country);

    private readonly record struct CacheKey(Uri Host, string Username, string Country);

    /// <summary>Prices, or <see langword="null"/> after a failed fetch, until <see cref="ExpiresAt"/>.</summary>
    private sealed record Entry(MessagingCountryPrices? Prices, DateTimeOffset ExpiresAt);
}
