using Keybrake.BudgetService.Hosting;

await BudgetServiceApp.Build(args).RunAsync();
