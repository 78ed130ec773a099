namespace Keybrake.BudgetService.Integrations;

/// <summary>
/// Marks an intake integration's route: it authenticates its caller itself, with a client credential that names the
/// integration, so the admin REST gate lets it through (an admin token opens none of them).
/// </summary>
internal sealed class IntakeEndpoint;
