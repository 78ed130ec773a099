using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// The master keys the service seals vendor secrets with (<c>BudgetService:Vault</c>): the current one, which seals,
/// and earlier ones, which still open what they sealed. Without a master key the vault is off: nothing is sealed, and
/// the admin calls that store a secret are refused. Read once, at start-up; a file that cannot be used stops the start.
/// </summary>
internal sealed class SecretVault
{
    public const string NoMasterKey = "the service has no master key: set BudgetService:Vault:MasterKeyFile (see docs/budget-service.md)";

    private const string Section = BudgetServiceOptions.SectionName + ":Vault";

    private readonly Dictionary<string, MasterKey> _keys = new(StringComparer.Ordinal);

    public SecretVault(IOptions<BudgetServiceOptions> options)
    {
        var vault = options.Value.Vault;
        if (!string.IsNullOrEmpty(vault.MasterKey))
        {
            Current = MasterKey.Parse(vault.MasterKey, $"{Section}:MasterKey");
        }
        else if (!string.IsNullOrWhiteSpace(vault.MasterKeyFile))
        {
            Current = MasterKey.Read(vault.MasterKeyFile, $"{Section}:MasterKeyFile");
        }

        if (Current is not null)
        {
            _keys[Current.Id] = Current;
        }

        for (var i = 0; i < vault.PreviousMasterKeyFiles.Count; i++)
        {
            var previous = MasterKey.Read(vault.PreviousMasterKeyFiles[i], $"{Section}:PreviousMasterKeyFiles:{i}");
            _keys.TryAdd(previous.Id, previous);
        }
    }

    /// <summary>The key that seals; <see langword="null"/> when the vault is off.</summary>
    public MasterKey? Current { get; }

    public bool Enabled => Current is not null;

    /// <summary>Seals a secret under the current key, bound to its key id and version.</summary>
    public SealedSecret Seal(string keyId, long version, string secret)
    {
        var current = Current ?? throw new InvalidOperationException(NoMasterKey);
        return new SealedSecret(version, current.Id, SecretSealing.Seal(current, keyId, version, secret));
    }

    /// <summary>
    /// Opens a stored secret; <see langword="null"/> when no configured master key has its id, or the bytes do not open
    /// for that key id and version (a row copied onto another key, or altered).
    /// </summary>
    public string? Open(string keyId, StoredSecret stored) =>
        _keys.TryGetValue(stored.MasterKeyId, out var master) ? SecretSealing.Open(master, keyId, stored.Version, stored.Sealed) : null;

    /// <summary>
    /// Fails the start when the store holds secrets sealed under a master key this service was not given: every
    /// delivery of them would fail, and storing new ones under another key would leave a store no single key opens.
    /// The message names the ids, never a key.
    /// </summary>
    public async Task CheckStoreAsync(IKeyStore store, CancellationToken cancellationToken)
    {
        var stored = await store.ListMasterKeyIdsAsync(cancellationToken);
        var unknown = stored.Where(id => !_keys.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count == 0)
        {
            return;
        }

        throw new ServiceStartException(Current is null
            ? $"The store holds vendor secrets sealed under master key {string.Join(", ", unknown)}, and no master key is configured: set {Section}:MasterKeyFile to the file of that key (see docs/budget-service.md)"
            : $"The store holds vendor secrets sealed under master key {string.Join(", ", unknown)}, but the configured master key is {Current.Id}: configure the master key the store was written with ({Section}:MasterKeyFile), or list it in {Section}:PreviousMasterKeyFiles (see docs/budget-service.md)");
    }

    /// <summary>What is wrong with the vault's settings, one line each, without reading files or echoing a value.</summary>
    public static IEnumerable<string> Problems(BudgetServiceVaultOptions vault)
    {
        var inline = !string.IsNullOrEmpty(vault.MasterKey);
        if (inline && !string.IsNullOrWhiteSpace(vault.MasterKeyFile))
        {
            yield return $"{Section}:MasterKey and {Section}:MasterKeyFile are both set; set one of them";
        }
        else if (inline)
        {
            string? problem = null;
            try
            {
                MasterKey.Parse(vault.MasterKey!, $"{Section}:MasterKey");
            }
            catch (ServiceStartException exception)
            {
                problem = exception.Message;
            }

            if (problem is not null)
            {
                yield return problem;
            }
        }

        if (vault.PreviousMasterKeyFiles.Count > 0 && !inline && string.IsNullOrWhiteSpace(vault.MasterKeyFile))
        {
            yield return $"{Section}:PreviousMasterKeyFiles is set without a current master key; set {Section}:MasterKeyFile too";
        }
    }
}
