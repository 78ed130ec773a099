using Keybrake.BudgetService.Hosting;

return await BudgetServiceApp.RunAsync(args);
