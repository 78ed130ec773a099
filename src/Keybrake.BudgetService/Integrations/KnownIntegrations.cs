namespace Keybrake.BudgetService.Integrations;

/// <summary>
/// The intake integrations a client credential may be allowed to post to. Each has its own endpoint on the admin port
/// and accepts only credentials that name it: an admin token opens none of them.
/// </summary>
internal static class KnownIntegrations
{
    /// <summary>LiteLLM's spend logs (its generic API callback): <c>POST /v1/integrations/litellm/spend-logs</c>.</summary>
    public const string LiteLlm = "litellm";

    public static IReadOnlyList<string> All { get; } = [LiteLlm];

    /// <summary>The problem with a credential's integrations, or <see langword="null"/>.</summary>
    public static string? Problem(IReadOnlyCollection<string> integrations)
    {
        foreach (var integration in integrations)
        {
            if (!All.Contains(integration, StringComparer.Ordinal))
            {
                var shown = integration.Length <= 40 ? integration : integration[..40] + "...";
                return $"integration '{shown}' is not known: use {string.Join(", ", All.Select(name => $"\"{name}\""))}";
            }
        }

        return null;
    }
}
