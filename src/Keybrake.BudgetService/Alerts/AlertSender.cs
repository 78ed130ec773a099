using System.Net.Http.Headers;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Sends the outbox: claims the deliveries due, POSTs each (signed), and records the attempt. A failure (no answer, a
/// timeout, any status but 2xx) is tried again after an exponential backoff with jitter, until delivered or until
/// <see cref="AlertOptions.MaxAge"/> after the alert, when it is given up (and stays listed as failed). At least once:
/// a POST that reached the receiver but whose answer was lost is sent again; receivers de-duplicate by
/// <c>Keybrake-Alert-Id</c>.
/// </summary>
internal sealed class AlertSender : BackgroundService
{
    private const int BatchSize = 20;

    private readonly IAlertStore _store;
    private readonly AlertWebhooks _webhooks;
    private readonly DeliveryWakeup _wakeup;
    private readonly TimeProvider _time;
    private readonly AlertOptions _options;
    private readonly ILogger<AlertSender> _logger;
    private readonly HttpClient _http;
    private DateTimeOffset _nextPrune = DateTimeOffset.MinValue;

    public AlertSender(IAlertStore store, AlertWebhooks webhooks, DeliveryWakeup wakeup, TimeProvider time, IOptions<AlertOptions> options, ILogger<AlertSender> logger)
    {
        _store = store;
        _webhooks = webhooks;
        _wakeup = wakeup;
        _time = time;
        _options = options.Value;
        _logger = logger;

        // No redirects: a signed alert goes to the configured URL only.
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = _options.RequestTimeout,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Keybrake-BudgetService", "1"));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PruneWhenDueAsync(stoppingToken);
                var sent = await SendDueAsync(stoppingToken);
                if (sent < BatchSize)
                {
                    await _wakeup.WaitAsync(_options.PollInterval, _time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // The store unreachable, say: the outbox keeps the deliveries, and the next round tries again.
                AlertLog.SendingFailed(_logger, exception);
                await Task.Delay(_options.PollInterval, _time, stoppingToken);
            }
        }
    }

    /// <summary>
    /// Hourly, forgets alerts past <see cref="AlertOptions.Retention"/> with nothing left to send. On PostgreSQL each
    /// replica may run it: the deletes are idempotent.
    /// </summary>
    private async Task PruneWhenDueAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now < _nextPrune)
        {
            return;
        }

        _nextPrune = now + TimeSpan.FromHours(1);
        var before = now - _options.Retention;
        if (await _store.PruneAsync(before, cancellationToken) is > 0 and var forgotten)
        {
            AlertLog.Pruned(_logger, forgotten, before);
        }
    }

    /// <summary>Claims and sends one batch of due deliveries; returns how many were claimed.</summary>
    internal async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();

        // The claim outlasts a POST's timeout: no other replica takes the delivery while this one may still send it.
        var due = await _store.ClaimDueAsync(now, now + (_options.RequestTimeout * 2) + TimeSpan.FromSeconds(30), BatchSize, cancellationToken);
        foreach (var delivery in due)
        {
            var webhook = _webhooks.Find(delivery.Webhook);
            var result = webhook is null
                ? new SendResult(false, 0, "the webhook is no longer configured")
                : await SendAsync(webhook, delivery.AlertId, delivery.Message, delivery.Payload, cancellationToken);
            await _store.RecordAttemptAsync(delivery.AlertId, delivery.Webhook, Outcome(delivery, webhook is not null, result), cancellationToken);
        }

        return due.Count;
    }

    /// <summary>Sends one alert to one webhook now (also the test alerts of <c>TestFireAlert</c>).</summary>
    internal async Task<SendResult> SendAsync(Webhook webhook, string alertId, string message, string payload, CancellationToken cancellationToken)
    {
        var body = AlertPayloads.Body(webhook.Format, message, payload);
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = content };
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Compute(webhook.Secret, timestamp, body));
        request.Headers.Add(WebhookSignature.AlertIdHeader, alertId);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var status = (int)response.StatusCode;
            return response.IsSuccessStatusCode ? new SendResult(true, status, null) : new SendResult(false, status, $"HTTP {status}");
        }
        catch (HttpRequestException exception)
        {
            return new SendResult(false, 0, $"{exception.HttpRequestError}: {Shorten(exception.Message)}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(false, 0, $"no answer within {_options.RequestTimeout}");
        }
    }

    private DeliveryOutcome Outcome(DueDelivery delivery, bool configured, SendResult result)
    {
        var now = _time.GetUtcNow();
        var attempts = delivery.Attempts + 1;
        if (result.Delivered)
        {
            AlertLog.Delivered(_logger, delivery.AlertId, delivery.Webhook, attempts);
            return new DeliveryOutcome(DeliveryState.Delivered, now, null, null);
        }

        var next = now + Backoff(attempts);
        if (!configured || next > delivery.CreatedAt + _options.MaxAge)
        {
            AlertLog.GaveUp(_logger, delivery.AlertId, delivery.Webhook, attempts, result.Error!);
            return new DeliveryOutcome(DeliveryState.Failed, now, result.Error, null);
        }

        AlertLog.Retrying(_logger, delivery.AlertId, delivery.Webhook, attempts, result.Error!, next);
        return new DeliveryOutcome(DeliveryState.Pending, now, result.Error, next);
    }

    /// <summary>Base × 2^(attempts-1), at most the maximum, then a random half to all of it (full jitter would allow 0).</summary>
    internal TimeSpan Backoff(int attempts)
    {
        var exponent = Math.Min(attempts - 1, 30);
        var ticks = Math.Min((double)_options.RetryBaseDelay.Ticks * Math.Pow(2, exponent), _options.RetryMaxDelay.Ticks);
        return TimeSpan.FromTicks((long)(ticks * (0.5 + (Random.Shared.NextDouble() * 0.5))));
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}

/// <summary>One POST's result: <see cref="StatusCode"/> 0 when no answer came.</summary>
internal sealed record SendResult(bool Delivered, int StatusCode, string? Error);
