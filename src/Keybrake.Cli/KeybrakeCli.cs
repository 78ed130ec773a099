using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Keybrake.Cli.Commands;
using Keybrake.Cli.Connection;
using Keybrake.Cli.Output;
using Keybrake.Cli.Secrets;

namespace Keybrake.Cli;

/// <summary>The <c>keybrake</c> command line: its commands, its help, and how a run ends (output and exit code).</summary>
internal static class KeybrakeCli
{
    /// <summary>The command tree.</summary>
    /// <param name="time">The clock (times given as a span ago count from it).</param>
    /// <param name="environment">Reads an environment variable (the server, the token).</param>
    /// <param name="currentDirectory">Where the service's admin-token file is looked for.</param>
    /// <param name="secrets">Where vendor secrets are read (standard input when not given).</param>
    public static Command Build(TimeProvider time, Func<string, string?> environment, string currentDirectory, SecretInput? secrets = null)
    {
        var globals = new GlobalOptions(time, environment, currentDirectory, secrets ?? SecretInput.Console());
        var examples = new HelpExamples();
        // A plain command named keybrake rather than a RootCommand, which takes its name from the executable:
        // run as a dotnet tool that is the assembly, Keybrake.Cli, and the help's usage lines would say so.
        var root = new Command(
            "keybrake",
            """
            keybrake drives the Keybrake budget service's operator API: create keys and set their policies, revoke
            and restore them (every guarded process denies the next call), hold and rotate their vendor secrets at
            the service, watch spend by key, day, vendor and run,
            read and export the audit, resolve reservations left open by processes that died mid-call, and issue
            and revoke the client credentials guarded processes present.
            Amounts are in US dollars (100, 12.50, 0.0075; at most six decimals); the service holds them as
            integer micro-USD, which is what --json shows.
            """);
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        globals.AddTo(root);
        root.Subcommands.Add(KeysCommands.Build(globals, examples));
        root.Subcommands.Add(SpendCommand.Build(globals, examples));
        root.Subcommands.Add(AuditCommand.Build(globals, examples));
        root.Subcommands.Add(ReservationsCommands.Build(globals, examples));
        root.Subcommands.Add(ClientsCommands.Build(globals, examples));
        root.Subcommands.Add(AlertsCommands.Build(globals, examples));
        root.Subcommands.Add(LeasesCommands.Build(globals, examples));
        examples.Add(root,
            "export KEYBRAKE_SERVER=http://127.0.0.1:7411",
            "export KEYBRAKE_ADMIN_TOKEN=...                  # the service's BudgetService:AdminToken",
            "keybrake keys create refund-agent --vendor stripe --daily-cap 100 --run-cap 25",
            "keybrake clients create fleet-a --keys refund-agent",
            "keybrake spend --run run_abc",
            "keybrake keys revoke refund-agent",
            "keybrake audit --run run_abc --decision deny",
            "keybrake keys list --json | jq -r '.keys[].keyId'",
            "keybrake keys create --help                      # every command has its own help and examples");
        examples.AddSection(root,
            $"""
            Connection:
              --server, else ${ConnectionSettings.ServerVariable}, else {ConnectionSettings.DefaultServer}.
              --token, else ${ConnectionSettings.TokenVariable}, else the file {ConnectionSettings.TokenFile} in the current directory
              (the service's data folder, when it generated its token), else no token. The token is never printed.
              https:// servers: --ca-file, else ${ConnectionSettings.CaFileVariable}, else the system's trusted roots.

            Output:
              Tables for people; --json writes the service's reply as one JSON document for scripts. Errors are
              one line on standard error, starting with "error:".

            Exit codes:
            {ExitCodes.HelpText}
            """);
        examples.Install(root);
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; a command line that does not parse exits with <see cref="ExitCodes.Usage"/>.</summary>
    public static async Task<int> RunAsync(Command root, string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction && KeySecretCommands.ReadsSecret(parse.CommandResult.Command) && parse.UnmatchedTokens.Count > 0)
        {
            // The usual message quotes the unexpected argument, which here is most likely the secret itself.
            await error.WriteLineAsync($"error: {CommandPath(parse.CommandResult.Command)} reads the secret from standard input, never from an argument (a command line is visible to other users and stays in shell history); nothing was sent").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (parse.Action is ParseErrorAction)
        {
            // One line, as the docs promise and as scripts read it: every problem, then where the help is.
            var problems = string.Join("; ", parse.Errors.Select(failure => OneLine.Of(failure.Message).TrimEnd('.')));
            await error.WriteLineAsync($"error: {problems} (see: {CommandPath(parse.CommandResult.Command)} --help)").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
    }

    private static string CommandPath(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { } parent ? $"{CommandPath(parent)} {command.Name}" : command.Name;
}
