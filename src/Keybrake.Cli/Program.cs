using Keybrake.Cli;

var root = KeybrakeCli.Build(TimeProvider.System, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());
return await KeybrakeCli.RunAsync(root, args, Console.Out, Console.Error).ConfigureAwait(false);
