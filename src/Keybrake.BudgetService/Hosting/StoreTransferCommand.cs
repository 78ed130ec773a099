using System.Data.Common;
using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Store.Transfer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// <c>export --to &lt;file&gt;</c> and <c>import --from &lt;file&gt; [--replace]</c>: the whole store (keys, policies and
/// revocations, counters, reservations settled or not, deferred objects and duty claims, vendor objects, audit records,
/// client credentials as their hashes) out of the configured store into a dump file, or from one into the configured
/// store. The store is the one the service's settings name (<c>BudgetService:Store</c>, <c>BudgetService:StoragePath</c>,
/// <c>ConnectionStrings:Keybrake</c>), so moving from SQLite to PostgreSQL is an export with the old settings and an
/// import with the new. Run with the service stopped. One line on success; one line on standard error and exit code 1 on
/// failure, naming no credential.
/// </summary>
internal static class StoreTransferCommand
{
    public const string Export = "export";
    public const string Import = "import";

    private const string Usage =
        "usage: Keybrake.BudgetService export --to <file> [settings] | import --from <file> [--replace] [settings]";

    /// <summary>Whether the command line asks for a transfer rather than the service.</summary>
    public static bool Handles(string[] args) => args is [Export or Import, ..];

    public static async Task<int> RunAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler cancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += cancel;
        try
        {
            return await RunAsync(args, Console.Out, Console.Error, stop.Token);
        }
        finally
        {
            Console.CancelKeyPress -= cancel;
        }
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        if (Parse(args) is not { } command)
        {
            await errors.WriteLineAsync(Usage);
            return 2;
        }

        try
        {
            await using var services = BuildServices(command.Settings);
            var transfer = services.GetRequiredService<StoreTransfer>();
            var store = services.GetRequiredService<IBudgetStore>();
            if (command.Export)
            {
                transfer.CheckSource();
                await store.MigrateAsync(cancellationToken);
                await using var dump = StoreDumpWriter.Create(command.File);
                await dump.WriteHeaderAsync(transfer.Description, services.GetRequiredService<TimeProvider>().GetUtcNow(), cancellationToken);
                var counts = await transfer.ExportAsync((table, row) => dump.WriteRowAsync(table, row, cancellationToken), cancellationToken);
                await dump.CompleteAsync(cancellationToken);
                await output.WriteLineAsync($"exported {Summary(counts)} from {transfer.Description} to {Path.GetFullPath(command.File)}");
            }
            else
            {
                if (!File.Exists(command.File))
                {
                    throw new StoreTransferException($"{Path.GetFullPath(command.File)} does not exist");
                }

                await store.MigrateAsync(cancellationToken);
                var counts = await transfer.ImportAsync(StoreDump.ReadAsync(command.File, cancellationToken), command.Replace, cancellationToken);
                await output.WriteLineAsync($"imported {Summary(counts)} from {Path.GetFullPath(command.File)} into {transfer.Description}");
            }

            return 0;
        }
        catch (Exception exception) when (exception is StoreTransferException or ServiceStartException or OptionsValidationException or DbException or IOException or UnauthorizedAccessException)
        {
            var message = exception is ServiceStartException or StoreTransferException ? exception.Message : ServiceStartException.Reason(exception);
            await errors.WriteLineAsync($"error: {command.Verb} failed, nothing was {(command.Export ? "exported" : "imported")}: {message.ReplaceLineEndings(" ")}");
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await errors.WriteLineAsync($"error: {command.Verb} stopped, nothing was {(command.Export ? "exported" : "imported")}");
            return 1;
        }
    }

    /// <summary>The configured store only: no listener, no admin token, no keys imported from configuration.</summary>
    private static ServiceProvider BuildServices(string[] settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = settings, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddOptions<BudgetServiceOptions>().BindConfiguration(BudgetServiceOptions.SectionName);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddBudgetStore(builder.Configuration);
        return builder.Services.BuildServiceProvider();
    }

    private static string Summary(IReadOnlyDictionary<StoreTable, int> counts) =>
        $"{counts.Values.Sum()} rows ({string.Join(", ", StoreTables.All.Select(table => $"{counts.GetValueOrDefault(table)} {table.Label}"))})";

    private static TransferCommand? Parse(string[] args)
    {
        var export = args[0] == Export;
        var fileOption = export ? "--to" : "--from";
        string? file = null;
        var replace = false;
        var settings = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == fileOption && i + 1 < args.Length)
            {
                file = args[++i];
            }
            else if (arg.StartsWith(fileOption + "=", StringComparison.Ordinal))
            {
                file = arg[(fileOption.Length + 1)..];
            }
            else if (!export && arg == "--replace")
            {
                replace = true;
            }
            else if (arg is "--to" or "--from" or "--replace")
            {
                return null;
            }
            else
            {
                settings.Add(arg);
            }
        }

        return string.IsNullOrWhiteSpace(file) ? null : new TransferCommand(export, file, replace, [.. settings]);
    }

    private sealed record TransferCommand(bool Export, string File, bool Replace, string[] Settings)
    {
        public string Verb => Export ? StoreTransferCommand.Export : StoreTransferCommand.Import;
    }
}
