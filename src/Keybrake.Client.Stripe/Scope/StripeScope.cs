namespace Keybrake.Client.Stripe;

/// <summary>
/// The Stripe allowlists: <c>customers</c> (who money may move from or to) and <c>accounts</c> (which Connect
/// accounts the key may act for). A list that is present allows only its values.
/// </summary>
internal static class StripeScope
{
    public const string Customers = "customers";
    public const string Accounts = "accounts";

    public static readonly string[] Names = [Customers, Accounts];

    /// <summary>The body fields that name a connected account.</summary>
    private static readonly string[] s_accountFields = ["on_behalf_of", "transfer_data[destination]", "destination[account]"];

    /// <summary>
    /// Checks the connected accounts the call acts for: the header, the body fields that route money, and the
    /// account of the charge or payment intent it refers to.
    /// </summary>
    public static GuardDenial? CheckAccounts(VendorCall call, FormUrlEncodedBody form, string? referenceId = null, VendorObject? reference = null)
    {
        if (call.GetAllowlist(Accounts) is not { } allowed)
        {
            return null;
        }

        if (call.Request.Headers.TryGetValues("Stripe-Account", out var headerValues))
        {
            foreach (var account in headerValues)
            {
                if (!allowed.Contains(account))
                {
                    return Denied(account, "Stripe-Account header");
                }
            }
        }

        foreach (var field in s_accountFields)
        {
            if (form.TryGetSingle(field, out var account) && account is not null && !allowed.Contains(account))
            {
                return Denied(account, field);
            }
        }

        // A transfer's (or legacy destination charge's) `destination` is an account; a payout's is a bank account.
        if (form.TryGetSingle("destination", out var destination) && destination is not null
            && destination.StartsWith("acct_", StringComparison.Ordinal) && !allowed.Contains(destination))
        {
            return Denied(destination, "destination");
        }

        // A refund or capture of a destination charge (or one made on behalf of an account) acts for that account.
        if (reference?.Account is { } referenced && !allowed.Contains(referenced))
        {
            return new GuardDenial(
                ReasonCodes.AccountNotAllowed,
                $"'{referenceId}' was made for connected account '{referenced}' (transfer_data[destination] or on_behalf_of), which is not in the key's accounts allowlist");
        }

        return null;

        static GuardDenial Denied(string account, string where) =>
            new(ReasonCodes.AccountNotAllowed, $"connected account '{account}' ({where}) is not in the key's accounts allowlist");
    }

    /// <summary>
    /// Checks the customer the call names (body or path) or, for refunds and captures, the customer of the
    /// object it acts on, as recorded when that object went through Keybrake or as Stripe described it in a lookup.
    /// </summary>
    public static GuardDenial? CheckCustomer(VendorCall call, FormUrlEncodedBody form, StripeEndpoint? endpoint, string? referenceId, VendorObject? reference)
    {
        if (call.GetAllowlist(Customers) is not { } allowed)
        {
            return null;
        }

        var segments = call.PathSegments;
        if (segments.Count >= 3 && segments[1] == "customers" && !allowed.Contains(segments[2]))
        {
            return Denied($"customer '{segments[2]}' is not in the key's customers allowlist");
        }

        form.TryGetSingle("customer", out var customer);
        if (customer is not null && !allowed.Contains(customer))
        {
            return Denied($"customer '{customer}' is not in the key's customers allowlist");
        }

        if (endpoint is not { CustomerScoped: true })
        {
            return null;
        }

        if (endpoint.Reference != StripeObjectReference.None && referenceId is not null)
        {
            if (reference is null)
            {
                // Objects are remembered per key: one made with another key is unknown here (unless Stripe itself
                // described it in a lookup), so that no key or credential can vouch for a charge another key acts on.
                return Denied($"'{referenceId}' did not go through Keybrake with this key and was not looked up, so its customer cannot be checked against the allowlist");
            }

            if (reference.Customer is null || !allowed.Contains(reference.Customer))
            {
                return Denied($"'{referenceId}' belongs to {(reference.Customer is null ? "no customer" : $"customer '{reference.Customer}'")}, which is not in the key's customers allowlist");
            }

            customer ??= reference.Customer;
        }

        if (customer is null)
        {
            return Denied("the call moves money for no named customer, and the key allows only listed customers");
        }

        return allowed.Contains(customer) ? null : Denied($"customer '{customer}' is not in the key's customers allowlist");

        static GuardDenial Denied(string message) => new(ReasonCodes.CustomerNotAllowed, message);
    }
}
