namespace Keybrake.Client;

/// <summary>
/// Registered (as a singleton) by a package whose <see cref="IBudgetLedger"/> keeps budgets outside this process:
/// Keybrake.Client.Central registers it from <c>UseBudgetService()</c>. Its presence tells the guard that the caps
/// are enforced there, so a key configured in this process need not set them. Applications do not register it.
/// </summary>
public sealed class ExternalBudgetLedger
{
    /// <summary>Creates the marker.</summary>
    /// <param name="package">The package that registered it, named in diagnostics.</param>
    public ExternalBudgetLedger(string package)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(package);
        Package = package;
    }

    /// <summary>The package that registered the ledger, such as <c>Keybrake.Client.Central</c>.</summary>
    public string Package { get; }
}
