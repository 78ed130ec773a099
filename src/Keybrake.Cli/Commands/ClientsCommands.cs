using System.CommandLine;
using Keybrake.Cli.Output;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary>
/// <c>keybrake clients create|list|revoke</c>: the credentials guarded processes present to the budget service,
/// each scoped to a set of keys.
/// </summary>
internal static class ClientsCommands
{
    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var clients = new Command(
            "clients",
            "Issue, list and revoke client credentials: what a guarded process presents (Keybrake:BudgetService:ClientToken) on every call to the budget service. Each acts only on the keys it is scoped to.");
        clients.Subcommands.Add(Create(globals, examples));
        clients.Subcommands.Add(List(globals, examples));
        clients.Subcommands.Add(Revoke(globals, examples));
        examples.Add(clients,
            "keybrake clients create fleet-a --keys refund-agent,sms-agent",
            "keybrake clients list",
            "keybrake clients revoke fleet-a");
        return clients;
    }

    private static Command Create(GlobalOptions globals, HelpExamples examples)
    {
        var clientId = new Argument<string>("client-id") { Description = "A name for the credential: letters, digits, '-', '_', '.'; up to 64." };
        var keys = new Option<string>("--keys")
        {
            Description = "The key ids it may act on, separated by commas; \"*\" for every key, present and future.",
            HelpName = "key-ids",
            Required = true,
        };
        var command = new Command("create", "Issue a client credential scoped to keys. Its token (kbc_...) is printed once: the service keeps only a hash.") { clientId, keys };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new CreateClientRequest { ClientId = parse.GetRequiredValue(clientId) };
            request.KeyIds.AddRange(parse.GetRequiredValue(keys).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            var reply = await session.Admin.CreateClientAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            session.Out.WriteLine($"Created client {reply.Client.ClientId} for keys {string.Join(", ", reply.Client.KeyIds)}.");
            session.Out.WriteLine($"Token (shown once; the service keeps only its hash): {reply.Token}");
            session.Out.WriteLine("Give it to the guarded processes as Keybrake:BudgetService:ClientToken, or in the file Keybrake:BudgetService:ClientTokenFile names.");
        });
        examples.Add(command,
            "keybrake clients create fleet-a --keys refund-agent,sms-agent",
            "keybrake clients create ops --keys '*'              # every key, present and future",
            "keybrake clients create fleet-a --keys refund-agent --json | jq -r .token > fleet-a.token && chmod 600 fleet-a.token");
        return command;
    }

    private static Command List(GlobalOptions globals, HelpExamples examples)
    {
        var command = new Command("list", "List client credentials, revoked ones included. Tokens are never shown again.");
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var reply = await session.Admin.ListClientsAsync(new ListClientsRequest(), session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            if (reply.Clients.Count == 0)
            {
                session.Out.WriteLine("No client credentials. Issue one with: keybrake clients create <client-id> --keys <key-ids>");
                return;
            }

            var table = new Table().Column("CLIENT").Column("STATUS").Column("KEYS").Column("SOURCE").Column("CREATED (UTC)").Column("REVOKED (UTC)");
            foreach (var client in reply.Clients)
            {
                table.Row(client.ClientId, client.Revoked ? "revoked" : "active", string.Join(",", client.KeyIds), client.Source, Cell(client.CreatedAt), Cell(client.RevokedAt));
            }

            table.Write(session.Out);
        });
        examples.Add(command, "keybrake clients list", "keybrake clients list --json | jq -r '.clients[] | select(.revoked | not) | .clientId'");
        return command;
    }

    private static Command Revoke(GlobalOptions globals, HelpExamples examples)
    {
        var clientId = new Argument<string>("client-id") { Description = "The credential to revoke." };
        var command = new Command("revoke", "Revoke a client credential: the service refuses its calls at once, and its processes deny their very next call. Returns once every process streaming with it confirmed (or after BudgetService:KeyEventAckTimeout, 1 s by default), and names the processes that did not.") { clientId };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var reply = await session.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = parse.GetRequiredValue(clientId) }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            session.Out.WriteLine($"Revoked client {reply.ClientId}: the service refuses its calls; {KeysCommands.Delivery(reply.Delivery, "deny their next call with key_revoked")}");
        });
        examples.Add(command, "keybrake clients revoke fleet-a");
        return command;
    }

    /// <summary>An RFC 3339 time as a table cell: to the second, or "-" when empty.</summary>
    private static string Cell(string time) => time.Length == 0 ? "-" : time.Length >= 19 ? time[..19].Replace('T', ' ') : time;
}
