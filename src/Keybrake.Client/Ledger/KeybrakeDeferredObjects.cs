using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client;

/// <summary>
/// For vendor packages that reconcile deferred prices (Twilio): in central mode, the objects the budget service holds
/// deferred per key (whichever process sent them, and whether it still runs), and the duty claims that elect one
/// process per key to reconcile them. In embedded mode there is nothing shared: <see cref="IsShared"/> is false and
/// the process reconciles what it sent itself.
/// </summary>
public sealed class KeybrakeDeferredObjects
{
    private readonly ISharedDeferredObjects? _shared;

    internal KeybrakeDeferredObjects(IServiceProvider services)
    {
        // Central mode registers the shared store; embedded mode has none.
        _shared = services.GetService<ISharedDeferredObjects>();
        var name = _shared?.ProcessName ?? DefaultProcessName;

        // Unique per instance, so two guards in one process (or a restarted process with a reused pid) are two holders.
        Holder = $"{name}/{Guid.NewGuid():N}";
    }

    /// <summary>Whether deferred objects are kept at the budget service (central mode), for every process of a key.</summary>
    public bool IsShared => _shared is not null;

    /// <summary>This guard as a duty holder: its process name and a random part.</summary>
    public string Holder { get; }

    private static string DefaultProcessName => string.Create(
        CultureInfo.InvariantCulture,
        $"{Environment.MachineName}/{Environment.ProcessId}/{Assembly.GetEntryAssembly()?.GetName().Name ?? "dotnet"}");

    private ISharedDeferredObjects Ledger => _shared
        ?? throw new InvalidOperationException("Deferred objects are shared only in central mode (Keybrake.Client.Central: UseBudgetService()).");

    /// <summary>
    /// Claims or renews <paramref name="duty"/> for the key for <paramref name="ttl"/>: <see langword="true"/> when this
    /// guard holds it. Another holder's claim is taken over only once it has expired (its process stopped renewing).
    /// </summary>
    public ValueTask<bool> TryClaimAsync(string keyId, string duty, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentException.ThrowIfNullOrEmpty(duty);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        return Ledger.ClaimDutyAsync(keyId, duty, Holder, ttl, cancellationToken);
    }

    /// <summary>Gives the duty up if this guard holds it, so another process takes it over at once rather than after the TTL.</summary>
    public async ValueTask ReleaseAsync(string keyId, string duty, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentException.ThrowIfNullOrEmpty(duty);
        await Ledger.ClaimDutyAsync(keyId, duty, Holder, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The key's objects still waiting for their price at the service, deferred at least <paramref name="minAge"/> ago, oldest first.</summary>
    public ValueTask<IReadOnlyList<DeferredObject>> ListOpenAsync(string keyId, string vendor, TimeSpan minAge, int limit, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentException.ThrowIfNullOrEmpty(vendor);
        ArgumentOutOfRangeException.ThrowIfLessThan(minAge, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return Ledger.ListDeferredAsync(keyId, vendor, minAge, limit, cancellationToken);
    }
}

/// <summary>An object whose reservation waits for the vendor's price.</summary>
/// <param name="ObjectId">The vendor's id, such as <c>SM...</c>.</param>
/// <param name="ReservationId">The reservation it settles.</param>
/// <param name="Estimate">What is reserved meanwhile.</param>
/// <param name="Refetch">What the vendor package recorded to fetch it again (see <see cref="VendorSettlement.Defer(string, string)"/>).</param>
public sealed record DeferredObject(string ObjectId, string ReservationId, Usd Estimate, string? Refetch);
