using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio;

/// <summary>
/// The opt-in background price check (<see cref="TwilioPriceReconciliationOptions"/>). Messages and calls the
/// guard deferred are fetched again after a delay, through the guarded client with the same brake key, so the
/// guard sees the price in the response and settles the reservation like any other response would. A message
/// still unpriced after the last attempt stays counted at its estimate for an operator to resolve.
/// In embedded mode each process checks what it sent itself (its ledger's reservations are its own). In central
/// mode the budget service keeps every deferred message of a key, and one process per key, elected through the
/// service (<see cref="Duty"/>, a claim renewed every tick and taken over once it expires), checks them all,
/// including those whose sender has gone; the others do not poll Twilio (TwilioPriceReconciler.Elected.cs).
/// </summary>
internal sealed partial class TwilioPriceReconciler : IAsyncDisposable, IDisposable
{
    /// <summary>The most messages waiting for a check; past it new ones are not tracked (they stay counted at their estimate).</summary>
    internal const int MaxTracked = 100_000;

    private readonly TwilioPriceReconciliationOptions _settings;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILogger<TwilioPriceReconciler> _logger;
    private readonly Lock _gate = new();
    private readonly List<Pending> _pending = [];
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    public TwilioPriceReconciler(
        IOptions<KeybrakeTwilioOptions> options,
        IServiceProvider services,
        TimeProvider time,
        ILogger<TwilioPriceReconciler> logger)
    {
        _settings = options.Value.PriceReconciliation;
        _services = services;
        _time = time;
        _logger = logger;
    }

    /// <summary>How many messages and calls wait for a price check.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Schedules a price check for a message or call just created through the guard.</summary>
    public void Track(string keyId, HttpRequestMessage request, IReadOnlyList<string> createPath, string sid)
    {
        // In central mode the service keeps the deferral, and the elected process checks it.
        if (!_settings.Enabled || IsShared || !TwilioRefetch.TryFetchUri(request, createPath, sid, out var username, out var fetch))
        {
            return;
        }

        lock (_gate)
        {
            if (_pending.Count >= MaxTracked || _stopping.IsCancellationRequested)
            {
                return;
            }

            _pending.Add(new Pending(keyId, username, fetch, _time.GetUtcNow() + _settings.Delay, 1));
            _loop ??= Task.Run(() => RunAsync(_stopping.Token));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_electionLoop is { } election)
        {
            await election.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping.Dispose();
    }

    /// <summary>For containers disposed synchronously: the loop is told to stop and not waited for.</summary>
    public void Dispose()
    {
        _stopping.Cancel();
    }

    /// <summary>How often the loops look for due checks: a quarter of the delay, between one and thirty seconds.</summary>
    internal static TimeSpan TickOf(TwilioPriceReconciliationOptions settings) =>
        TimeSpan.FromTicks(Math.Clamp(settings.Delay.Ticks / 4, TimeSpan.TicksPerSecond, 30 * TimeSpan.TicksPerSecond));

    private async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TickOf(_settings), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                foreach (var due in TakeDue())
                {
                    await CheckAsync(due, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // shutting down: whatever is still unpriced stays counted at its estimate
        }
    }

    private List<Pending> TakeDue()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            var due = _pending.Where(p => p.DueAt <= now).ToList();
            _pending.RemoveAll(p => p.DueAt <= now);
            return due;
        }
    }

    private async Task CheckAsync(Pending pending, CancellationToken stopping)
    {
        try
        {
            // Resolved here, not in the constructor: the key options' validation needs the vendor profiles, which need this.
            var keys = _services.GetRequiredService<IOptionsMonitor<KeybrakeOptions>>().CurrentValue.Keys;
            if (!keys.TryGetValue(pending.KeyId, out var key))
            {
                return; // the key is gone: nothing can ask on its behalf
            }

            if (await FetchAsync(pending.Username, key.BrakeKey, pending.Fetch, stopping).ConfigureAwait(false) == FetchOutcome.Unpriced)
            {
                Retry(pending);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            LogCheckFailed(_logger, pending.KeyId, exception);
            Retry(pending);
        }
    }

    /// <summary>
    /// Fetches the resource through the guarded client with the key's brake key: the guard sees the price in the
    /// response and settles the reservation (in process, or at the service by object) before this returns.
    /// </summary>
    private async Task<FetchOutcome> FetchAsync(string username, string brakeKey, Uri fetch, CancellationToken stopping)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fetch);
        request.Headers.Authorization = TwilioBasicAuth.Create(username, brakeKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var client = _services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeTwilioBuilderExtensions.HttpClientName);
        using var response = await client.SendAsync(request, stopping).ConfigureAwait(false);
        if ((int)response.StatusCode == 404)
        {
            return FetchOutcome.Missing;
        }

        var body = await response.Content.ReadAsByteArrayAsync(stopping).ConfigureAwait(false);
        var resources = new List<TwilioResource>(1);
        var priced = response.IsSuccessStatusCode && TwilioResource.TryParse(body, resources)
            && resources.Count > 0 && (resources[0].Price is not null || resources[0].IsUnbilledFinal);
        return priced ? FetchOutcome.Priced : FetchOutcome.Unpriced;
    }

    private void Retry(Pending pending)
    {
        if (pending.Attempt >= _settings.MaxAttempts)
        {
            LogGaveUp(_logger, pending.KeyId, pending.Attempt);
            return;
        }

        lock (_gate)
        {
            _pending.Add(pending with { DueAt = _time.GetUtcNow() + _settings.Delay, Attempt = pending.Attempt + 1 });
        }
    }

    [LoggerMessage(101, LogLevel.Warning, "Keybrake could not fetch the price of a Twilio message for key '{KeyId}'; it will ask again")]
    private static partial void LogCheckFailed(ILogger logger, string keyId, Exception exception);

    [LoggerMessage(102, LogLevel.Warning, "Keybrake asked {Attempts} times for the price of a Twilio message for key '{KeyId}' and got none; its estimate stays counted until an operator resolves it")]
    private static partial void LogGaveUp(ILogger logger, string keyId, int attempts);

    private enum FetchOutcome
    {
        Priced,
        Unpriced,
        Missing,
    }

    private sealed record Pending(string KeyId, string Username, Uri Fetch, DateTimeOffset DueAt, int Attempt);
}
