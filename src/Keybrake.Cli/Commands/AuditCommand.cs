using System.CommandLine;
using System.Globalization;
using Keybrake.Cli.Output;
using Keybrake.Cli.Policies;
using Keybrake.Cli.Values;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary><c>keybrake audit</c>: the audit records, as a table a page at a time, or exported whole as JSON lines or CSV.</summary>
internal static class AuditCommand
{
    public const int DefaultLimit = 50;
    private const int MaxPageSize = 1000;

    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var run = new Option<string?>("--run") { Description = "Only this agent run's calls.", HelpName = "run-id" };
        var key = new Option<string?>("--key") { Description = "Only this key's calls.", HelpName = "key-id" };
        var vendor = new Option<string?>("--vendor") { Description = $"Only calls to this vendor ({VendorNames.VendorList})." };
        var decision = new Option<string?>("--decision") { Description = "Only allowed (allow) or only denied (deny) calls.", HelpName = "allow|deny" };
        decision.AcceptOnlyFromAmong("allow", "deny", "allowed", "denied");
        var from = new Option<string?>("--from")
        {
            Description = "Calls at or after this time: RFC 3339 (2025-06-01T12:00:00Z), a day (2025-06-01, midnight UTC) or a span ago (30m, 2h, 7d).",
            HelpName = "time",
        };
        var to = new Option<string?>("--to") { Description = "Calls before this time, written as for --from.", HelpName = "time" };
        var limit = new Option<int>("--limit")
        {
            Description = "The most records to show, newest first; the pages are followed until there are this many. 0 for every record.",
            HelpName = "n",
            DefaultValueFactory = _ => DefaultLimit,
        };
        var pageToken = new Option<string?>("--page-token") { Description = "Continue where an earlier listing stopped (it prints the token).", HelpName = "token" };
        var format = new Option<string?>("--format")
        {
            Description = "Export every matching record, oldest first, as JSON lines or CSV instead of a table (--limit does not apply).",
            HelpName = "jsonl|csv",
        };
        format.AcceptOnlyFromAmong("jsonl", "csv");
        var output = new Option<FileInfo?>("--output") { Description = "With --format: write the export to this file instead of standard output.", HelpName = "path" };

        var command = new Command("audit", "Show what the guards did: one record per guarded call, allowed or denied, with its cost, reason and run.")
        {
            run, key, vendor, decision, from, to, limit, pageToken, format, output,
        };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var filter = new ExportAuditRequest
            {
                RunId = parse.GetValue(run) ?? string.Empty,
                KeyId = parse.GetValue(key) ?? string.Empty,
                Vendor = parse.GetValue(vendor) ?? string.Empty,
                Decision = parse.GetValue(decision) ?? string.Empty,
                From = Time(parse.GetValue(from), "--from", session.Now),
                To = Time(parse.GetValue(to), "--to", session.Now),
            };
            if (parse.GetValue(format) is { } exportFormat)
            {
                if (session.Json || parse.GetResult(limit) is { Implicit: false } || parse.GetValue(pageToken) is not null)
                {
                    throw new UsageException("--format exports every matching record: it does not combine with --json, --limit or --page-token");
                }

                filter.Format = exportFormat;
                await ExportAsync(session, filter, parse.GetValue(output), cancellationToken).ConfigureAwait(false);
                return;
            }

            if (parse.GetValue(output) is not null)
            {
                throw new UsageException("--output goes with --format jsonl or --format csv");
            }

            var count = parse.GetValue(limit);
            if (count < 0)
            {
                throw new UsageException("--limit: give 0 (every record) or more");
            }

            var records = await QueryAsync(session, filter, count, parse.GetValue(pageToken), cancellationToken).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, records);
                return;
            }

            Write(session.Out, records);
        });
        examples.Add(command,
            "keybrake audit --run run_abc                          # one agent run, newest first",
            "keybrake audit --key refund-agent --decision deny --from 2h",
            "keybrake audit --from 2025-06-01 --to 2025-06-02 --limit 0 --json",
            "keybrake audit --run run_abc --format csv --output run_abc.csv",
            "keybrake audit --from 7d --format jsonl > audit.jsonl");
        return command;
    }

    /// <summary>Pages of records until <paramref name="limit"/> (0: all), as one reply whose token continues after the last record shown.</summary>
    private static async Task<QueryAuditReply> QueryAsync(Connection.AdminSession session, ExportAuditRequest filter, int limit, string? pageToken, CancellationToken cancellationToken)
    {
        var all = new QueryAuditReply { NextPageToken = pageToken ?? string.Empty };
        do
        {
            var wanted = limit == 0 ? MaxPageSize : Math.Min(limit - all.Records.Count, MaxPageSize);
            var request = new QueryAuditRequest
            {
                RunId = filter.RunId, KeyId = filter.KeyId, Vendor = filter.Vendor, Decision = filter.Decision,
                From = filter.From, To = filter.To, PageSize = wanted, PageToken = all.NextPageToken,
            };
            var page = await session.Admin.QueryAuditAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            all.Records.Add(page.Records);
            all.NextPageToken = page.NextPageToken;
        }
        while (all.NextPageToken.Length > 0 && (limit == 0 || all.Records.Count < limit));

        return all;
    }

    /// <summary>The service's chunks as they come, byte for byte.</summary>
    private static async Task ExportAsync(Connection.AdminSession session, ExportAuditRequest request, FileInfo? file, CancellationToken cancellationToken)
    {
        Stream destination;
        try
        {
            destination = file is null ? Console.OpenStandardOutput() : new FileStream(file.FullName, FileMode.Create, FileAccess.Write, FileShare.None, 1, useAsync: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot write --output {file}: {e.Message}");
        }

        await using (destination.ConfigureAwait(false))
        {
            using var call = session.Admin.ExportAudit(request, session.Stream(cancellationToken));
            long bytes = 0;
            try
            {
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    var data = call.ResponseStream.Current.Data.Memory;
                    await destination.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                    bytes += data.Length;
                }

                await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // A full disk, or a reader that went away (| head): say so in one line rather than a stack trace.
                throw new CliException(ExitCodes.Failed, $"cannot write the export to {(file is null ? "standard output" : file.FullName)}: {e.Message}");
            }
            if (file is not null)
            {
                session.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {bytes} bytes to {file.FullName}."));
            }
        }
    }

    internal static void Write(TextWriter output, QueryAuditReply reply)
    {
        if (reply.Records.Count == 0)
        {
            output.WriteLine("No audit records match.");
        }
        else
        {
            var table = new Table().Column("TIME (UTC)").Column("KEY").Column("RUN").Column("CALL").Column("DECISION").Column("REASON")
                .Column("ESTIMATE", alignRight: true).Column("SETTLED", alignRight: true).Column("STATUS", alignRight: true);
            foreach (var record in reply.Records)
            {
                table.Row(
                    TimeText.CellFromUnixMicros(record.TimestampUnixMicros),
                    record.KeyId,
                    record.RunId,
                    $"{record.Method} {record.Endpoint}",
                    record.Decision,
                    record.Reason,
                    Usd.FromMicros(record.EstimatedMicroUsd).ToString(),
                    record.HasSettledMicroUsd ? Usd.FromMicros(record.SettledMicroUsd).ToString() : "-",
                    record.HasHttpStatus ? record.HttpStatus.ToString(CultureInfo.InvariantCulture) : "-");
            }

            table.Write(output);
        }

        if (reply.NextPageToken.Length > 0)
        {
            output.WriteLine();
            output.WriteLine($"More records: add --page-token {reply.NextPageToken}");
        }
    }

    private static string Time(string? text, string option, DateTimeOffset now)
    {
        if (text is null)
        {
            return string.Empty;
        }

        return TimeText.TryParse(text, now, out var rfc3339, out var error) ? rfc3339 : throw new UsageException($"{option}: {error}");
    }
}
