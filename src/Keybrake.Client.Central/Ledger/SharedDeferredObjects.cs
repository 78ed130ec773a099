using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>The deferred objects and duties the budget service keeps for every process of a key.</summary>
internal sealed class SharedDeferredObjects : ISharedDeferredObjects
{
    // Resolved once, on first use: giving a duty up happens while the container is being disposed, when it resolves nothing.
    private readonly Lazy<GrpcBudgetLedger> _ledger;

    public SharedDeferredObjects(IServiceProvider services, IOptions<KeybrakeBudgetServiceOptions> options)
    {
        _ledger = new Lazy<GrpcBudgetLedger>(services.GetRequiredService<GrpcBudgetLedger>);
        var name = options.Value.ProcessName;
        ProcessName = string.IsNullOrWhiteSpace(name) ? KeyWatcher.DefaultName : name;
    }

    public string ProcessName { get; }

    public ValueTask<bool> ClaimDutyAsync(string keyId, string duty, string holder, TimeSpan ttl, CancellationToken cancellationToken) =>
        _ledger.Value.ClaimDutyAsync(keyId, duty, holder, ttl, cancellationToken);

    public ValueTask<IReadOnlyList<DeferredObject>> ListDeferredAsync(string keyId, string vendor, TimeSpan minAge, int limit, CancellationToken cancellationToken) =>
        _ledger.Value.ListDeferredAsync(keyId, vendor, minAge, limit, cancellationToken);
}
