using System.Collections.Concurrent;
using Google.Protobuf;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// The keys the service holds, compiled, in memory for the money path; the store is the record. Keys from
/// configuration are imported at start and follow the configuration until an operator changes them through the
/// admin API; from then on the store's copy is the one that counts.
/// </summary>
internal sealed class KeyRegistry
{
    private readonly ConcurrentDictionary<string, ServiceKey> _keys = new(StringComparer.Ordinal);
    private readonly IKeyStore _store;
    private readonly IOptionsMonitor<BudgetServiceOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<KeyRegistry> _logger;

    public KeyRegistry(IKeyStore store, IOptionsMonitor<BudgetServiceOptions> options, TimeProvider time, ILogger<KeyRegistry> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public ServiceKey? Find(string keyId) => _keys.GetValueOrDefault(keyId);

    public IEnumerable<ServiceKey> All => _keys.Values.OrderBy(key => key.Id, StringComparer.Ordinal);

    /// <summary>Imports the configured keys and loads every stored one.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        foreach (var (id, configured) in _options.CurrentValue.Keys)
        {
            var policy = PolicyMessages.ToMessage(configured.Policy).ToByteArray();
            var stored = await _store.FindAsync(id, cancellationToken);
            if (stored is null)
            {
                var key = new StoredKey(id, configured.Vendor.ToLowerInvariant(), policy, 1, null, KeySource.Configuration, now, now);
                await _store.TryInsertAsync(key, cancellationToken);
            }
            else if (stored.Source == KeySource.Configuration && !stored.Policy.AsSpan().SequenceEqual(policy))
            {
                await _store.UpdatePolicyAsync(id, policy, KeySource.Configuration, now, cancellationToken);
            }
            else if (stored.Source == KeySource.Admin && !stored.Policy.AsSpan().SequenceEqual(policy))
            {
                Log.ConfiguredKeyOverridden(_logger, id);
            }
        }

        foreach (var stored in await _store.ListAsync(cancellationToken))
        {
            _keys[stored.KeyId] = Load(stored);
        }

        Log.KeysLoaded(_logger, _keys.Count);
    }

    /// <summary>Adds a key whose policy has been checked; <see langword="null"/> when the id is taken.</summary>
    public async Task<ServiceKey?> CreateAsync(string keyId, string vendor, Policy policy, byte[] brakeKeySha256, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var stored = new StoredKey(keyId, vendor, policy.ToByteArray(), 1, brakeKeySha256, KeySource.Admin, now, now);
        if (!await _store.TryInsertAsync(stored, cancellationToken))
        {
            return null;
        }

        var key = Load(stored);
        _keys[keyId] = key;
        return key;
    }

    /// <summary>Replaces a key's checked policy; <see langword="null"/> when there is no such key.</summary>
    public async Task<ServiceKey?> UpdatePolicyAsync(string keyId, Policy policy, CancellationToken cancellationToken)
    {
        var stored = await _store.UpdatePolicyAsync(keyId, policy.ToByteArray(), KeySource.Admin, _time.GetUtcNow(), cancellationToken);
        if (stored is null)
        {
            return null;
        }

        var key = Load(stored);
        _keys.AddOrUpdate(keyId, key, (_, current) => current.IsAtLeast(key) && (current.PolicyVersion > key.PolicyVersion || current.SecretVersion > key.SecretVersion) ? current : key);
        return key;
    }

    /// <summary>Takes a key as a secret write read it back (a new secret version); returns the key in force.</summary>
    public ServiceKey Apply(StoredKey stored) => Refresh(stored);

    /// <summary>
    /// Takes a key as another replica stored it (created, or its policy changed); an older version than the one held
    /// changes nothing. Returns the key in force.
    /// </summary>
    public ServiceKey Refresh(StoredKey stored)
    {
        var key = Load(stored);
        return _keys.AddOrUpdate(stored.KeyId, key, (_, current) => current.IsAtLeast(key) ? current : key);
    }

    /// <summary>
    /// Compiles a policy for a key of this vendor, adding a message naming the field for each problem. Scope and
    /// limit names are checked for vendors the service knows.
    /// </summary>
    public static KeyPolicy? Compile(string keyId, string vendor, Policy? policy, List<string> errors)
    {
        var names = KnownVendors.All.TryGetValue(vendor, out var known) ? known : default;
        var compiled = PolicyMessages.TryCompile(keyId, policy, errors, names.ScopeNames, names.LimitNames);
        return compiled is not null && CapsFitTheBooks(compiled, "policy.daily_cap_micro_usd", "policy.run_cap_micro_usd", errors) ? compiled : null;
    }

    /// <summary>
    /// Caps are amounts the service counts against, so they are bound as every amount it accepts is
    /// (<see cref="BookLimits.MaxAmountMicroUsd"/>), tighter than a client's own policy allows.
    /// </summary>
    public static bool CapsFitTheBooks(KeyPolicy policy, string dailyCapField, string runCapField, List<string> errors)
    {
        var before = errors.Count;
        var max = Usd.FromMicros(BookLimits.MaxAmountMicroUsd);
        if (policy.DailyCap > max)
        {
            errors.Add($"{dailyCapField} must be at most {max} ({BookLimits.MaxAmountMicroUsd} micro-USD) in the budget service");
        }

        if (policy.RunCap is { } runCap && runCap > max)
        {
            errors.Add($"{runCapField} must be at most {max} ({BookLimits.MaxAmountMicroUsd} micro-USD) in the budget service");
        }

        return errors.Count == before;
    }

    private ServiceKey Load(StoredKey stored)
    {
        var message = Policy.Parser.ParseFrom(stored.Policy);
        var errors = new List<string>();

        // Shown as the value in force, whoever wrote the policy: a key created without the field reads "allow"
        // like one imported from configuration, never "".
        message.ReadsDuringOutage = message.ReadsDuringOutage.Length == 0 ? "allow" : message.ReadsDuringOutage.ToLowerInvariant();

        // Stored policies were checked when written. One that no longer compiles (a time zone this machine
        // lacks) must not take the service down: the key is kept with no money allowed, and the reason logged.
        var policy = PolicyMessages.TryCompile(stored.KeyId, message, errors);
        if (policy is null)
        {
            Log.StoredPolicyRejected(_logger, stored.KeyId, string.Join("; ", errors));
            policy = PolicyMessages.TryCompile(stored.KeyId, new Policy { DailyCapMicroUsd = 0 }, [])!;
        }

        return new ServiceKey(
            stored.KeyId, stored.Vendor, policy, message, stored.PolicyVersion, stored.BrakeKeySha256, stored.CreatedAt, stored.UpdatedAt,
            stored.SecretVersion, stored.SecretSetAt, stored.PreviousSecretValidUntil);
    }
}
