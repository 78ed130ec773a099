using System.Text;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>A webhook as the sender uses it: its secret read once, at start-up.</summary>
internal sealed record Webhook(string Name, Uri Url, byte[] Secret, string Format, IReadOnlySet<string> Events)
{
    /// <summary>Whether alerts of <paramref name="type"/> go to this webhook (an empty filter takes every type).</summary>
    public bool Takes(string type) => Events.Count == 0 || Events.Contains(type);

    /// <summary>Never the secret.</summary>
    public override string ToString() => $"webhook '{Name}' ({Url.GetLeftPart(UriPartial.Authority)})";
}

/// <summary>The configured webhooks (validated by <see cref="AlertOptionsValidator"/> before this reads them).</summary>
internal sealed class AlertWebhooks
{
    public AlertWebhooks(IOptions<AlertOptions> options)
    {
        All = [.. options.Value.Webhooks
            .OrderBy(pair => pair.Key, StringComparer.Ordinal)
            .Select(pair => new Webhook(
                pair.Key,
                new Uri(pair.Value.Url!),
                Encoding.UTF8.GetBytes(AlertOptionsValidator.ReadSecret(pair.Value)),
                pair.Value.Format,
                pair.Value.Events.ToHashSet(StringComparer.Ordinal)))];
    }

    public IReadOnlyList<Webhook> All { get; }

    public Webhook? Find(string name) => All.FirstOrDefault(webhook => webhook.Name == name);

    public IReadOnlyList<string> For(string type) => [.. All.Where(webhook => webhook.Takes(type)).Select(webhook => webhook.Name)];
}
