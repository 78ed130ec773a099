using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Checks the alert settings at start-up, one failure per problem, naming the setting and never a secret's value:
/// a webhook without https off loopback, without a secret, or with an unknown format or event is refused.
/// </summary>
internal sealed partial class AlertOptionsValidator : IValidateOptions<AlertOptions>
{
    public ValidateOptionsResult Validate(string? name, AlertOptions options)
    {
        var failures = new List<string>();
        const string section = AlertOptions.SectionName;
        foreach (var threshold in options.Thresholds.Where(threshold => threshold is < 1 or > 1000))
        {
            failures.Add($"{section}:Thresholds has {threshold}: use percentages from 1 to 1000");
        }

        foreach (var (keyId, thresholds) in options.KeyThresholds)
        {
            foreach (var threshold in thresholds.Where(threshold => threshold is < 1 or > 1000))
            {
                failures.Add($"{section}:KeyThresholds:{keyId} has {threshold}: use percentages from 1 to 1000");
            }
        }

        if (options.BurstCount < 0)
        {
            failures.Add($"{section}:BurstCount is {options.BurstCount}: use 0 (off) or more");
        }

        Positive(failures, nameof(AlertOptions.BurstWindow), options.BurstWindow);
        Positive(failures, nameof(AlertOptions.RetryBaseDelay), options.RetryBaseDelay);
        Positive(failures, nameof(AlertOptions.RetryMaxDelay), options.RetryMaxDelay);
        Positive(failures, nameof(AlertOptions.MaxAge), options.MaxAge);
        Positive(failures, nameof(AlertOptions.Retention), options.Retention);
        Positive(failures, nameof(AlertOptions.RequestTimeout), options.RequestTimeout);
        Positive(failures, nameof(AlertOptions.PollInterval), options.PollInterval);
        foreach (var (webhook, settings) in options.Webhooks)
        {
            var prefix = $"{section}:Webhooks:{webhook}";
            if (!WebhookName().IsMatch(webhook))
            {
                failures.Add($"{section}:Webhooks has a webhook named '{(webhook.Length <= 64 ? webhook : webhook[..64] + "...")}': use 1 to 64 letters, digits, '-' or '_'");
                continue;
            }

            failures.AddRange(UrlProblems(prefix, settings.Url));
            var secret = SecretProblem(prefix, settings);
            if (secret is not null)
            {
                failures.Add(secret);
            }

            if (settings.Format is not (AlertFormats.Json or AlertFormats.Slack))
            {
                failures.Add($"{prefix}:Format is '{settings.Format}': use {AlertFormats.Json} or {AlertFormats.Slack}");
            }

            foreach (var type in settings.Events.Where(type => !AlertTypes.Filterable.Contains(type)))
            {
                failures.Add($"{prefix}:Events has '{type}': use any of {string.Join(", ", AlertTypes.Filterable.Order())}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The secret a webhook signs with: <see cref="WebhookOptions.Secret"/>, or the first line of its file.</summary>
    public static string ReadSecret(WebhookOptions settings) =>
        settings.Secret is { Length: > 0 } secret ? secret : (File.ReadLines(settings.SecretFile!).FirstOrDefault() ?? string.Empty).Trim();

    private static IEnumerable<string> UrlProblems(string prefix, string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            yield return $"{prefix}:Url is not set";
            yield break;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            yield return $"{prefix}:Url is not an absolute http or https URL";
            yield break;
        }

        if (uri.UserInfo.Length > 0)
        {
            yield return $"{prefix}:Url carries credentials: sign with {prefix}:Secret or SecretFile instead";
        }

        // Cleartext only where no other host listens in: an alert names keys, runs and spend.
        if (uri.Scheme == Uri.UriSchemeHttp && !IsLoopback(uri))
        {
            yield return $"{prefix}:Url uses http to {uri.Host}, which other hosts can reach: use https (http is accepted on loopback only)";
        }
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private static string? SecretProblem(string prefix, WebhookOptions settings)
    {
        var inline = !string.IsNullOrEmpty(settings.Secret);
        var file = !string.IsNullOrEmpty(settings.SecretFile);
        if (inline == file)
        {
            return inline
                ? $"{prefix} sets both Secret and SecretFile: set one"
                : $"{prefix} has no secret: set {prefix}:SecretFile (a file holding it) or {prefix}:Secret, at least 16 characters";
        }

        string secret;
        try
        {
            secret = ReadSecret(settings);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"{prefix}:SecretFile '{settings.SecretFile}' cannot be read ({exception.GetType().Name})";
        }

        return secret.Length < 16 ? $"{prefix}:{(inline ? "Secret" : "SecretFile")} holds a secret shorter than 16 characters" : null;
    }

    private static void Positive(List<string> failures, string setting, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"{AlertOptions.SectionName}:{setting} is {value}: use a positive time span");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex WebhookName();
}
