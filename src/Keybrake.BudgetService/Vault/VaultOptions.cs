namespace Keybrake.BudgetService.Vault;

/// <summary>
/// The vault's master key (<c>BudgetService:Vault</c>): the key that encrypts the vendor secrets the service holds.
/// Exactly one of <see cref="MasterKey"/> and <see cref="MasterKeyFile"/>, or neither (the vault is off: the service
/// runs as without it, and refuses to store a secret).
/// </summary>
public sealed class BudgetServiceVaultOptions
{
    /// <summary>The master key: base64 of exactly 32 random bytes (<c>openssl rand -base64 32</c>). Never logged.</summary>
    public string? MasterKey { get; set; }

    /// <summary>A file holding the master key as base64 text (surrounding whitespace ignored), relative to the working directory.</summary>
    public string? MasterKeyFile { get; set; }

    /// <summary>
    /// Files holding earlier master keys, in the same form: secrets sealed under one of them are still read, and sealed
    /// under the current key when next written. For moving to a new master key without losing the stored secrets.
    /// </summary>
    public IList<string> PreviousMasterKeyFiles { get; } = [];
}
