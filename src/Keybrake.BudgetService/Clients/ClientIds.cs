using Keybrake.BudgetService.Budget;

namespace Keybrake.BudgetService.Clients;

/// <summary>Client ids and scopes, as the admin API and the configuration accept them.</summary>
internal static class ClientIds
{
    /// <summary>The problem with a client id, or <see langword="null"/>.</summary>
    public static string? Problem(string clientId) =>
        clientId.Length is 0 or > 64 || !clientId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? $"client_id '{Shorten(clientId)}' must be 1 to 64 letters, digits, '-', '_' or '.'"
            : null;

    /// <summary>
    /// The problem with a scope, or <see langword="null"/>: at least one key id, or <c>*</c> for every key; none only for
    /// a credential that has intake integrations instead (<paramref name="hasIntegrations"/>), which can make no Budget call.
    /// </summary>
    public static string? ScopeProblem(IReadOnlyCollection<string> keyIds, bool hasIntegrations = false)
    {
        if (keyIds.Count == 0)
        {
            return hasIntegrations ? null : "key_ids must name at least one key (or \"*\" for every key), or integrations an intake integration (\"litellm\")";
        }

        if (keyIds.Count > RequestChecks.MaxBatch)
        {
            return $"key_ids holds more than {RequestChecks.MaxBatch} keys";
        }

        foreach (var keyId in keyIds)
        {
            if (keyId != ServiceClient.AllKeys && (keyId.Length is 0 or > 64 || !keyId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            {
                return $"key id '{Shorten(keyId)}' must be 1 to 64 letters, digits, '-', '_' or '.' (or \"*\" for every key)";
            }
        }

        return null;
    }

    private static string Shorten(string value) => value.Length <= 70 ? value : value[..64] + "...";
}
