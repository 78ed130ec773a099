using System.Globalization;
using System.CommandLine;
using Keybrake.Cli.Output;
using Keybrake.Cli.Values;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary>
/// <c>keybrake leases list</c>: the budget leases processes hold (who holds how much of which key's budget until when),
/// and what is stranded: leases whose process is gone, counted against the cap until their TTL ends.
/// </summary>
internal static class LeasesCommands
{
    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var leases = new Command("leases", "Show the budget leases processes hold, and what is stranded in leases whose process is gone.");
        leases.Subcommands.Add(List(globals, examples));
        examples.Add(leases, "keybrake leases list", "keybrake leases list --key refunds --all");
        return leases;
    }

    private static Command List(GlobalOptions globals, HelpExamples examples)
    {
        var key = new Option<string>("--key") { Description = "Only this key's leases.", HelpName = "key-id" };
        var all = new Option<bool>("--all") { Description = "Also leases that ended: given back, expired or voided." };
        var limit = new Option<int>("--limit") { Description = "At most this many leases, newest first (1 to 1000).", DefaultValueFactory = _ => 100, HelpName = "count" };
        var command = new Command("list", "List budget leases, newest first: key, run, holder, granted, used, still held, state and when it ends; then the totals held and stranded.") { key, all, limit };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var count = parse.GetValue(limit);
            if (count is < 1 or > 1000)
            {
                throw new UsageException($"--limit is {count}: use 1 to 1000");
            }

            var reply = await session.Admin.ListLeasesAsync(
                new ListLeasesRequest { KeyId = parse.GetValue(key) ?? string.Empty, IncludeEnded = parse.GetValue(all), Limit = count },
                session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            if (reply.Leases.Count == 0)
            {
                session.Out.WriteLine(parse.GetValue(all) ? "No leases." : "No active leases: every money call goes to the service.");
                return;
            }

            var table = new Table().Column("LEASE").Column("KEY").Column("RUN").Column("HOLDER").Column("GRANTED").Column("USED").Column("HELD").Column("STATE").Column("ENDS (UTC)");
            foreach (var lease in reply.Leases)
            {
                table.Row(
                    lease.LeaseId,
                    lease.KeyId,
                    lease.RunId.Length == 0 ? "-" : lease.RunId,
                    lease.Holder,
                    Usd.FromMicros(lease.GrantedMicroUsd).ToString(),
                    Usd.FromMicros(lease.UsedMicroUsd).ToString(),
                    Usd.FromMicros(lease.OutstandingMicroUsd).ToString(),
                    lease.Stranded ? "stranded" : lease.State,
                    TimeText.Cell(lease.EndedAt.Length > 0 ? lease.EndedAt : lease.ExpiresAt));
            }

            table.Write(session.Out);
            session.Out.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"Held by active leases: {Usd.FromMicros(reply.OutstandingMicroUsd)}; stranded (process gone, back when the TTL ends): {Usd.FromMicros(reply.StrandedMicroUsd)}."));
        });
        examples.Add(command, "keybrake leases list", "keybrake leases list --key refunds --all", "keybrake leases list --json | jq '.strandedMicroUsd'");
        return command;
    }
}
