namespace Keybrake.Client.Stripe;

/// <summary>Stripe allowlists on a key's policy, in code.</summary>
public static class StripePolicyExtensions
{
    /// <summary>Allows money to move only from or to these customers (<c>cus_...</c>).</summary>
    public static KeybrakePolicyOptions AllowStripeCustomers(this KeybrakePolicyOptions policy, params string[] customerIds)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Allow(StripeScope.Customers, customerIds);
    }

    /// <summary>Allows acting only for these Connect accounts (<c>acct_...</c>).</summary>
    public static KeybrakePolicyOptions AllowStripeAccounts(this KeybrakePolicyOptions policy, params string[] accountIds)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Allow(StripeScope.Accounts, accountIds);
    }
}
