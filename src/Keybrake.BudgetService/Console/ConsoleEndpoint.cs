namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>
/// Endpoint metadata: a console route. The admin API's token gate (<see cref="Budget.AdminRestGate"/>) lets it through,
/// because the console authenticates by its own session cookie, and the console's session never reaches past these
/// routes: the REST admin API still takes the bearer token and nothing else.
/// </summary>
internal sealed class ConsoleEndpoint;
