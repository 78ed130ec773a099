using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>Keys and policies from <see cref="KeybrakeOptions"/>, rebuilt when the configuration reloads.</summary>
internal sealed class ConfiguredKeyCatalog : IKeyCatalog, IDisposable
{
    private readonly ILogger<ConfiguredKeyCatalog> _logger;
    private readonly IDisposable? _subscription;

    // With an external ledger (central mode) the budget service enforces the caps: a key here need not set them.
    private readonly bool _capsAreCentral;
    private volatile Snapshot _snapshot;

    public ConfiguredKeyCatalog(IOptionsMonitor<KeybrakeOptions> options, ILogger<ConfiguredKeyCatalog> logger, IEnumerable<ExternalBudgetLedger> externalLedgers)
    {
        _logger = logger;
        _capsAreCentral = externalLedgers.Any();
        _snapshot = Snapshot.Build(options.CurrentValue, _capsAreCentral);
        LogStandIns(_snapshot);
        _subscription = options.OnChange(Reload);
    }

    public ResolvedKey? FindByBrakeKey(string brakeKey) =>
        _snapshot.ByBrakeKey.TryGetValue(brakeKey, out var key) ? key : null;

    public ResolvedKey? FindById(string keyId) =>
        _snapshot.ById.TryGetValue(keyId, out var key) ? key : null;

    public void Dispose() => _subscription?.Dispose();

    private void Reload(KeybrakeOptions options)
    {
        try
        {
            _snapshot = Snapshot.Build(options, _capsAreCentral);
            Log.KeysReloaded(_logger, _snapshot.ById.Count);
            LogStandIns(_snapshot);
        }
        catch (ArgumentException exception)
        {
            // A bad reload keeps the last good keys rather than dropping every guard.
            Log.KeysReloadRejected(_logger, exception.Message);
        }
    }

    // Loud on purpose: a key whose secret goes somewhere other than the vendor is right for a test and wrong in
    // production, and the operator must be able to see which it is from the log alone.
    private void LogStandIns(Snapshot snapshot)
    {
        foreach (var key in snapshot.ById.Values)
        {
            if (key.VendorEndpoint is { } endpoint)
            {
                Log.SecretGoesToStandIn(_logger, key.Id, key.Vendor, endpoint.GetLeftPart(UriPartial.Authority));
            }
        }
    }

    private sealed record Snapshot(FrozenDictionary<string, ResolvedKey> ByBrakeKey, FrozenDictionary<string, ResolvedKey> ById)
    {
        public static Snapshot Build(KeybrakeOptions options, bool capsAreCentral)
        {
            var keys = options.Keys
                .Select(pair => (pair.Value.BrakeKey, Key: new ResolvedKey(
                    pair.Key,
                    pair.Value.Vendor.ToLowerInvariant(),
                    pair.Value.VendorSecret,
                    KeyPolicy.Compile(pair.Key, pair.Value.Policy, capsAreCentral),
                    VendorEndpoints.Parse(pair.Key, pair.Value.VendorEndpoint))))
                .ToList();

            return new Snapshot(
                keys.ToFrozenDictionary(k => k.BrakeKey, k => k.Key, StringComparer.Ordinal),
                keys.ToFrozenDictionary(k => k.Key.Id, k => k.Key, StringComparer.Ordinal));
        }
    }
}
