using System.CommandLine;
using Keybrake.Cli.Output;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary>
/// <c>keybrake alerts list|test-fire</c>: the budget alerts the service fired (a threshold of a cap reached, a key
/// revoked or restored, a burst of denials) and whether they reached their webhooks.
/// </summary>
internal static class AlertsCommands
{
    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var alerts = new Command(
            "alerts",
            "List the alerts the budget service fired and their delivery to each webhook (BudgetService:Alerts:Webhooks), and send a test alert.");
        alerts.Subcommands.Add(List(globals, examples));
        alerts.Subcommands.Add(TestFire(globals, examples));
        examples.Add(alerts,
            "keybrake alerts list --undelivered",
            "keybrake alerts test-fire --webhook ops");
        return alerts;
    }

    private static Command List(GlobalOptions globals, HelpExamples examples)
    {
        var undelivered = new Option<bool>("--undelivered") { Description = "Only alerts with a delivery not made: pending (still retried) or failed (given up)." };
        var limit = new Option<int>("--limit") { Description = "At most this many alerts, newest first (1 to 1000).", DefaultValueFactory = _ => 100, HelpName = "count" };
        var command = new Command("list", "List fired alerts, newest first, with each webhook's delivery: delivered, pending (attempts so far, the last error, the next attempt) or failed.") { undelivered, limit };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var count = parse.GetValue(limit);
            if (count is < 1 or > 1000)
            {
                throw new UsageException($"--limit is {count}: use 1 to 1000");
            }

            var reply = await session.Admin.ListAlertsAsync(new ListAlertsRequest { UndeliveredOnly = parse.GetValue(undelivered), Limit = count }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            if (reply.Alerts.Count == 0)
            {
                session.Out.WriteLine(parse.GetValue(undelivered) ? "Every alert was delivered." : "No alerts fired.");
                return;
            }

            var table = new Table().Column("FIRED (UTC)").Column("ALERT").Column("TYPE").Column("KEY").Column("WEBHOOK").Column("DELIVERY").Column("ATTEMPTS").Column("LAST ERROR");
            foreach (var alert in reply.Alerts)
            {
                if (alert.Deliveries.Count == 0)
                {
                    table.Row(Cell(alert.CreatedAt), alert.AlertId, What(alert), alert.KeyId, "-", "no webhook", "0", "-");
                }

                foreach (var delivery in alert.Deliveries)
                {
                    var state = delivery.State == "pending" && delivery.NextAttemptAt.Length > 0 ? $"pending (next {Cell(delivery.NextAttemptAt)})" : delivery.State;
                    table.Row(Cell(alert.CreatedAt), alert.AlertId, What(alert), alert.KeyId, delivery.Webhook, state,
                        delivery.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture), delivery.LastError.Length == 0 ? "-" : delivery.LastError);
                }
            }

            table.Write(session.Out);
        });
        examples.Add(command,
            "keybrake alerts list",
            "keybrake alerts list --undelivered",
            "keybrake alerts list --json | jq -r '.alerts[] | .message'");
        return command;
    }

    private static Command TestFire(GlobalOptions globals, HelpExamples examples)
    {
        var webhook = new Option<string>("--webhook") { Description = "The webhook to send to, by its name in BudgetService:Alerts:Webhooks; every webhook when left out.", HelpName = "name" };
        var command = new Command("test-fire", "Send a test alert (type alert.test, signed like every alert, not stored) to one webhook or all of them now, and report what each answered. Exits 1 when any was not delivered.") { webhook };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var reply = await session.Admin.TestFireAlertAsync(new TestFireAlertRequest { Webhook = parse.GetValue(webhook) ?? string.Empty }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
            }
            else
            {
                foreach (var result in reply.Results)
                {
                    session.Out.WriteLine(result.Delivered
                        ? $"Delivered to webhook {result.Webhook} (HTTP {result.StatusCode})."
                        : $"Not delivered to webhook {result.Webhook}: {result.Error}");
                }
            }

            var failed = reply.Results.Where(result => !result.Delivered).Select(result => result.Webhook).ToList();
            if (failed.Count > 0)
            {
                throw new CliException(ExitCodes.Failed, $"the test alert did not reach {string.Join(", ", failed)}");
            }
        });
        examples.Add(command, "keybrake alerts test-fire", "keybrake alerts test-fire --webhook ops");
        return command;
    }

    private static string What(AlertInfo alert) =>
        alert.Type == "budget.threshold" ? $"{alert.ThresholdPercent}% {alert.Scope} {alert.Window}" : alert.Type;

    /// <summary>An RFC 3339 time as a table cell: to the second, or "-" when empty.</summary>
    private static string Cell(string time) => time.Length == 0 ? "-" : time.Length >= 19 ? time[..19].Replace('T', ' ') : time;
}
