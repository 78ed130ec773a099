using System.CommandLine;
using System.Globalization;
using Keybrake.Cli.Output;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary><c>keybrake spend</c>: settled and reserved spend grouped by key, day, vendor and run.</summary>
internal static class SpendCommand
{
    private static readonly string[] s_groups = ["key", "day", "vendor", "run"];

    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var key = new Option<string?>("--key") { Description = "Only this key's spend.", HelpName = "key-id" };
        var vendor = new Option<string?>("--vendor") { Description = "Only the spend of keys for this vendor." };
        var run = new Option<string?>("--run") { Description = "Only this agent run's spend (the run id the agent set with KeybrakeRun.Begin), with the LLM spend LiteLLM reported for it side by side.", HelpName = "run-id" };
        var from = new Option<string?>("--from") { Description = "The first day, yyyy-MM-dd, by each key's own day (its time zone).", HelpName = "day" };
        var to = new Option<string?>("--to") { Description = "The last day, yyyy-MM-dd, inclusive.", HelpName = "day" };
        var by = new Option<string[]>("--by")
        {
            Description = "How rows are grouped: key, day, vendor, run, comma-separated or repeated [default: key,day; with --run: key,run]. run cannot be combined with day: run counters span days.",
            HelpName = "groups",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("spend", "Show spend (settled, and reserved but not yet settled) by key, day, vendor and run, with totals. Reserved money counts against the caps until it settles.")
        {
            key, vendor, run, from, to, by,
        };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new QuerySpendRequest
            {
                KeyId = parse.GetValue(key) ?? string.Empty,
                Vendor = parse.GetValue(vendor) ?? string.Empty,
                RunId = parse.GetValue(run) ?? string.Empty,
                FromDay = Day(parse.GetValue(from), "--from"),
                ToDay = Day(parse.GetValue(to), "--to"),
            };
            request.GroupBy.Add(Groups(parse.GetValue(by), request.RunId.Length > 0));
            var reply = await session.Admin.QuerySpendAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);

            // One run: its LLM tokens beside its SaaS dollars too.
            var summary = request.RunId.Length > 0 ? await RunSummaryOutput.GetAsync(session, request.RunId, cancellationToken).ConfigureAwait(false) : null;
            if (session.Json)
            {
                if (request.RunId.Length > 0)
                {
                    session.Out.WriteLine(RunSummaryOutput.Json(reply, summary));
                }
                else
                {
                    JsonOutput.Write(session.Out, reply);
                }

                return;
            }

            Write(session.Out, reply);
            if (request.RunId.Length > 0)
            {
                RunSummaryOutput.Write(session.Out, summary);
            }
        });
        examples.Add(command,
            "keybrake spend                                  # every key, per key and day",
            "keybrake spend --run run_abc                    # one agent run, per key, with its LLM tokens",
            "keybrake spend --key refund-agent --from 2025-06-01 --to 2025-06-30 --by day",
            "keybrake spend --by vendor --json");
        return command;
    }

    internal static void Write(TextWriter output, QuerySpendReply reply)
    {
        // A column for each grouping the rows carry.
        var table = new Table();
        var columns = new List<Func<SpendRow, string>>();
        void Add(string header, Func<SpendRow, string> cell)
        {
            if (reply.Rows.Any(row => cell(row).Length > 0))
            {
                table.Column(header);
                columns.Add(cell);
            }
        }

        Add("KEY", r => r.KeyId);
        Add("VENDOR", r => r.Vendor);
        Add("DAY", r => r.Day);
        Add("RUN", r => r.RunId);
        table.Column("SETTLED", alignRight: true).Column("RESERVED", alignRight: true);

        // A settled price above its estimate can take a day (or run) past its cap: say so on the row, loudly.
        var anyOverrun = reply.Rows.Any(row => row.OverrunMicroUsd > 0);
        if (anyOverrun)
        {
            table.Column("CAP");
        }

        foreach (var row in reply.Rows)
        {
            string[] cells = [.. columns.Select(cell => cell(row)), Usd.FromMicros(row.SettledMicroUsd).ToString(), Usd.FromMicros(row.ReservedMicroUsd).ToString()];
            table.Row(anyOverrun ? [.. cells, OverCap(row.OverrunMicroUsd)] : cells);
        }

        if (table.RowCount == 0)
        {
            output.WriteLine("No spend matches.");
        }
        else
        {
            table.Write(output);
            output.WriteLine();
        }

        output.WriteLine($"Total: {Usd.FromMicros(reply.TotalSettledMicroUsd).ToString()} settled, {Usd.FromMicros(reply.TotalReservedMicroUsd).ToString()} reserved.");
        if (reply.TotalOverrunMicroUsd > 0)
        {
            output.WriteLine($"OVER CAP by {Usd.FromMicros(reply.TotalOverrunMicroUsd).ToString()} in all: settled prices above their estimates took spend past a cap (recorded when they settled).");
        }
    }

    /// <summary>The marker of a row whose settled spend went past its cap, or nothing.</summary>
    internal static string OverCap(long overrunMicroUsd) =>
        overrunMicroUsd > 0 ? $"OVER CAP by {Usd.FromMicros(overrunMicroUsd).ToString()}" : string.Empty;

    private static string Day(string? text, string option)
    {
        if (text is null)
        {
            return string.Empty;
        }

        return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
            ? text
            : throw new UsageException($"{option}: '{text}' is not a day: write yyyy-MM-dd, such as 2025-06-01");
    }

    private static List<string> Groups(string[]? given, bool forRun)
    {
        if (given is not { Length: > 0 })
        {
            return forRun ? ["key", "run"] : [];
        }

        var groups = given.SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(g => g.ToLowerInvariant()).Distinct().ToList();
        if (groups.FirstOrDefault(g => !s_groups.Contains(g)) is { } unknown)
        {
            throw new UsageException($"--by: '{unknown}' is not a grouping: use key, day, vendor or run");
        }

        if (groups.Contains("run") && groups.Contains("day"))
        {
            throw new UsageException("--by: run cannot be combined with day (run counters span days)");
        }

        return groups;
    }
}
