using Keybrake.BudgetService.Hosting;

try
{
    await BudgetServiceApp.Build(args).RunAsync();
}
catch (BudgetServiceStartupException exception)
{
    // A setting the service cannot start with: one line that names it, not a stack trace.
    await Console.Error.WriteLineAsync($"error: {exception.Message}");
    return 1;
}

return 0;
