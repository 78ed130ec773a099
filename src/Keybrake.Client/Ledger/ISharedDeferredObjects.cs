namespace Keybrake.Client;

/// <summary>
/// Deferred objects and duties kept where every process of a key sees them: registered by a ledger package
/// (Keybrake.Client.Central) and used through <see cref="KeybrakeDeferredObjects"/>. Without one, deferred objects
/// are not shared and each process reconciles what it sent itself. Applications do not implement it.
/// </summary>
public interface ISharedDeferredObjects
{
    /// <summary>This process as the operator sees it (a configured name, or <c>host/pid/app</c>).</summary>
    string ProcessName { get; }

    /// <summary>Claims, renews or (with a zero <paramref name="ttl"/>) gives up <paramref name="duty"/> of the key for <paramref name="holder"/>.</summary>
    /// <returns><see langword="true"/> when <paramref name="holder"/> holds the duty afterwards.</returns>
    ValueTask<bool> ClaimDutyAsync(string keyId, string duty, string holder, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>The key's objects still waiting for their price, deferred at least <paramref name="minAge"/> ago, oldest first.</summary>
    ValueTask<IReadOnlyList<DeferredObject>> ListDeferredAsync(string keyId, string vendor, TimeSpan minAge, int limit, CancellationToken cancellationToken);
}
