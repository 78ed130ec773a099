using System.CommandLine;
using Keybrake.Cli.Output;
using Keybrake.Cli.Values;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary><c>keybrake reservations [resolve]</c>: money reserved by calls whose outcome never came back.</summary>
internal static class ReservationsCommands
{
    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var key = new Option<string?>("--key") { Description = "Only this key's reservations.", HelpName = "key-id" };
        var olderThan = new Option<string?>("--older-than")
        {
            Description = "Only reservations made before this time: a span ago (10m, 2h) or RFC 3339. A call still in flight is a few seconds old.",
            HelpName = "time",
        };
        var command = new Command(
            "reservations",
            "List unsettled reservations: money reserved for calls whose outcome never came back (the process died mid-call). They count as spent against the caps until resolved.")
        {
            key, olderThan,
        };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new ListUnsettledRequest { KeyId = parse.GetValue(key) ?? string.Empty };
            if (parse.GetValue(olderThan) is { } text)
            {
                request.OlderThan = TimeText.TryParse(text, session.Now, out var at, out var error) ? at : throw new UsageException($"--older-than: {error}");
            }

            var reply = await session.Admin.ListUnsettledAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            Write(session.Out, reply);
        });
        command.Subcommands.Add(Resolve(globals, examples));
        examples.Add(command,
            "keybrake reservations",
            "keybrake reservations --key refund-agent --older-than 10m",
            "keybrake reservations resolve res_0123 --actual 12.50   # the vendor's dashboard says it cost $12.50",
            "keybrake reservations resolve res_0123                  # it never happened: release the money");
        return command;
    }

    private static Command Resolve(GlobalOptions globals, HelpExamples examples)
    {
        var id = new Argument<string>("reservation-id") { Description = "The reservation, as keybrake reservations lists it." };
        var actual = new Option<long?>("--actual")
        {
            Description = "What the call really cost, in USD: commit this amount. Without it the reservation is released (nothing was spent).",
            HelpName = "usd",
            CustomParser = r =>
            {
                if (Usd.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : null, out var amount, out var error))
                {
                    return amount.Micros;
                }

                r.AddError($"--actual: {error}");
                return null;
            },
        };
        var command = new Command("resolve", "Settle an unsettled reservation by hand: commit what the call really cost (--actual), or release it.") { id, actual };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new ResolveReservationRequest { ReservationId = parse.GetRequiredValue(id) };
            if (parse.GetValue(actual) is { } micros)
            {
                request.ActualMicroUsd = micros;
            }

            var reply = await session.Admin.ResolveReservationAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            session.Out.WriteLine(request.HasActualMicroUsd
                ? $"Committed {Usd.FromMicros(request.ActualMicroUsd).ToString()} for reservation {request.ReservationId}."
                : $"Released reservation {request.ReservationId}: nothing counts as spent.");
        });
        examples.Add(command, "keybrake reservations resolve res_0123 --actual 12.50", "keybrake reservations resolve res_0123");
        return command;
    }

    internal static void Write(TextWriter output, ListUnsettledReply reply)
    {
        if (reply.Reservations.Count == 0)
        {
            output.WriteLine("No unsettled reservations.");
            return;
        }

        var table = new Table().Column("RESERVATION").Column("KEY").Column("RUN").Column("IDEMPOTENCY KEY")
            .Column("ESTIMATE", alignRight: true).Column("DAY").Column("CREATED (UTC)").Column("COMMIT HELD", alignRight: true);
        foreach (var r in reply.Reservations)
        {
            // A commit the service did not trust (far above the estimate): the amount it claimed, for the operator to check.
            table.Row(r.ReservationId, r.KeyId, r.RunId, r.IdempotencyKey, Usd.FromMicros(r.EstimateMicroUsd).ToString(), r.Day, TimeText.CellFromUnixMicros(r.CreatedUnixMicros),
                r.Held ? Usd.FromMicros(r.HeldActualMicroUsd).ToString() : string.Empty);
        }

        table.Write(output);
        output.WriteLine();
        output.WriteLine($"{reply.Reservations.Count} unsettled, {Usd.FromMicros(reply.Reservations.Sum(r => r.EstimateMicroUsd)).ToString()} held. Resolve one with: keybrake reservations resolve <id> [--actual <usd>]");
    }
}
