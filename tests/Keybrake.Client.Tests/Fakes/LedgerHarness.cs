using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.Client.Tests;

/// <summary>
/// An <see cref="EmbeddedBudgetLedger"/> on a <see cref="ConfiguredKeyCatalog"/> with two keys: "agent" (a $100
/// daily cap unless the test's policy says otherwise) and "other" (a $1,000 cap), on a fake clock.
/// </summary>
internal sealed class LedgerHarness : IDisposable
{
    public const string KeyId = "agent";
    public const string OtherKeyId = "other";

    private readonly ConfiguredKeyCatalog _catalog;

    public LedgerHarness(Action<KeybrakePolicyOptions>? policy = null, DateTimeOffset? now = null)
    {
        var options = new KeybrakeOptions();
        options.AddKey(KeyId, key =>
        {
            key.BrakeKey = "vault_key_ledger_agent_00000000001";
            key.Vendor = TestVendorProfile.Name;
            key.VendorSecret = "tv_secret_agent";
            key.Policy.DailyCap = Usd.FromDollars(100);
            policy?.Invoke(key.Policy);
        });
        options.AddKey(OtherKeyId, key =>
        {
            key.BrakeKey = "vault_key_ledger_other_00000000002";
            key.Vendor = TestVendorProfile.Name;
            key.VendorSecret = "tv_secret_other";
            key.Policy.DailyCap = Usd.FromDollars(1000);
        });

        Time = new FakeTimeProvider(now ?? new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        _catalog = new ConfiguredKeyCatalog(new StaticOptionsMonitor(options), NullLogger<ConfiguredKeyCatalog>.Instance, []);
        Ledger = new EmbeddedBudgetLedger(_catalog, Time);
    }

    public FakeTimeProvider Time { get; }

    public EmbeddedBudgetLedger Ledger { get; }

    public IKeybrakeAdmin Admin => Ledger;

    public static AuthorizationRequest Request(Usd estimate, string? runId = null, string? idempotencyKey = null, ulong hash = 1, string keyId = KeyId) =>
        new(keyId, runId, idempotencyKey, estimate, new UInt128(0, hash));

    public ValueTask<AuthorizationResult> AuthorizeAsync(Usd estimate, string? runId = null, string? idempotencyKey = null, ulong hash = 1, string keyId = KeyId) =>
        Ledger.AuthorizeAsync(Request(estimate, runId, idempotencyKey, hash, keyId), CancellationToken.None);

    public ValueTask CommitAsync(string reservationId, Usd actual) =>
        Ledger.SettleAsync([new Settlement(reservationId, SettlementKind.Commit, actual)], CancellationToken.None);

    public ValueTask ReleaseAsync(string reservationId) =>
        Ledger.SettleAsync([new Settlement(reservationId, SettlementKind.Release, Usd.Zero)], CancellationToken.None);

    public ValueTask<SpendReport> TodayAsync(string keyId = KeyId) => Admin.GetDailySpendAsync(keyId);

    public void Dispose() => _catalog.Dispose();

    private sealed class StaticOptionsMonitor(KeybrakeOptions value) : IOptionsMonitor<KeybrakeOptions>
    {
        public KeybrakeOptions CurrentValue => value;

        public KeybrakeOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<KeybrakeOptions, string?> listener) => null;
    }
}
