namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// A setting the service cannot start with. Its message is the one line the operator sees (no stack trace):
/// it names the setting and what to do.
/// </summary>
public sealed class BudgetServiceStartupException(string message) : Exception(message);
