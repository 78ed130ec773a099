namespace Keybrake.BudgetService.Alerts;

/// <summary>Budget alerts, bound from <c>BudgetService:Alerts</c>: the thresholds, the denial bursts, and where alerts go.</summary>
internal sealed class AlertOptions
{
    public const string SectionName = "BudgetService:Alerts";

    /// <summary>Percentages of a key's daily cap, and of a run's cap, that fire an alert once each (per day, or per run).</summary>
    public List<int> Thresholds { get; set; } = [];

    /// <summary>The thresholds in force: the configured ones, or 50, 80 and 100 when none are configured.</summary>
    public IReadOnlyList<int> EffectiveThresholds => Thresholds.Count == 0 ? [50, 80, 100] : [.. Thresholds.Distinct().Order()];

    /// <summary>Thresholds of particular keys, by key id, in place of <see cref="Thresholds"/> for those keys.</summary>
    public Dictionary<string, List<int>> KeyThresholds { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The thresholds in force for one key: its own, or the service's.</summary>
    public IReadOnlyList<int> ThresholdsFor(string keyId) =>
        KeyThresholds.TryGetValue(keyId, out var own) && own.Count > 0 ? [.. own.Distinct().Order()] : EffectiveThresholds;

    /// <summary>Denials of these reasons, <see cref="BurstCount"/> or more for one key within <see cref="BurstWindow"/>, fire one alert per window.</summary>
    public List<string> BurstReasons { get; set; } = [];

    public IReadOnlyList<string> EffectiveBurstReasons => BurstReasons.Count == 0 ? ["loop_detected", "rate_limited"] : BurstReasons;

    /// <summary>How many denials within a window make a burst; 0 turns burst alerts off.</summary>
    public int BurstCount { get; set; } = 10;

    public TimeSpan BurstWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="RetryMaxDelay"/>, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A delivery not made within this time of its alert is given up (failed), and stays listed.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long fired alerts stay listed; older ones with nothing left to send are forgotten (hourly).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long one POST may take.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the sender looks for deliveries due (a fired alert wakes it at once).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The webhooks, by name.</summary>
    public Dictionary<string, WebhookOptions> Webhooks { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One webhook: where, how signed, in what shape, for which alerts.</summary>
internal sealed class WebhookOptions
{
    /// <summary>https, or http on loopback only.</summary>
    public string? Url { get; set; }

    /// <summary>The HMAC-SHA256 secret (at least 16 characters); prefer <see cref="SecretFile"/>.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the secret (its first line).</summary>
    public string? SecretFile { get; set; }

    /// <summary><c>json</c> (the default) or <c>slack</c>.</summary>
    public string Format { get; set; } = AlertFormats.Json;

    /// <summary>The alert types sent to this webhook; empty for all.</summary>
    public List<string> Events { get; set; } = [];
}

internal static class AlertFormats
{
    public const string Json = "json";
    public const string Slack = "slack";
}
