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
            Description = "The key ids it may act on, separated by commas; \"*\" for every key, present and future. Needed unless --integration is given.",
            HelpName = "key-ids",
        };
        var integrations = new Option<string[]>("--integration")
        {
            Description = "An intake integration it may post to: litellm (LiteLLM's spend logs, POST /v1/integrations/litellm/spend-logs). Repeat for several. Without --keys, the credential can make no Budget call.",
            HelpName = "name",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("create", "Issue a client credential scoped to keys, intake integrations, or both. Its token (kbc_...) is printed once: the service keeps only a hash.") { clientId, keys, integrations };
        command.Validators.Add(result =>
        {
            if (result.GetResult(keys) is null && result.GetResult(integrations) is null)
            {
                result.AddError("Option '--keys' is required (or '--integration' for an intake-only credential).");
            }
        });
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new CreateClientRequest { ClientId = parse.GetRequiredValue(clientId) };
            request.KeyIds.AddRange((parse.GetValue(keys) ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            request.Integrations.AddRange((parse.GetValue(integrations) ?? []).Select(name => name.Trim()).Where(name => name.Length > 0));
            var reply = await session.Admin.CreateClientAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            var scope = reply.Client.KeyIds.Count > 0 ? $"keys {string.Join(", ", reply.Client.KeyIds)}" : "no key";
            var intake = reply.Client.Integrations.Count > 0 ? $" and the intake integrations {string.Join(", ", reply.Client.Integrations)}" : string.Empty;
            session.Out.WriteLine($"Created client {reply.Client.ClientId} for {scope}{intake}.");
            session.Out.WriteLine($"Token (shown once; the service keeps only its hash): {reply.Token}");
            session.Out.WriteLine(reply.Client.KeyIds.Count > 0
                ? "Give it to the guarded processes as Keybrake:BudgetService:ClientToken, or in the file Keybrake:BudgetService:ClientTokenFile names."
                : "Give it to the integration as its bearer token (LiteLLM: see docs/litellm.md); it can make no Budget call.");
        });
        examples.Add(command,
            "keybrake clients create fleet-a --keys refund-agent,sms-agent",
            "keybrake clients create ops --keys '*'              # every key, present and future",
            "keybrake clients create litellm-proxy --integration litellm   # LiteLLM's spend logs only",
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
                session.Out.WriteLine("No client credentials. Issue one with: keybrake clients create <client-id> --keys <key-ids> (or --integration litellm)");
                return;
            }

            var table = new Table().Column("CLIENT").Column("STATUS").Column("KEYS").Column("INTEGRATIONS").Column("SOURCE").Column("CREATED (UTC)").Column("REVOKED (UTC)");
            foreach (var client in reply.Clients)
            {
                table.Row(client.ClientId, client.Revoked ? "revoked" : "active", client.KeyIds.Count > 0 ? string.Join(",", client.KeyIds) : "-",
                    client.Integrations.Count > 0 ? string.Join(",", client.Integrations) : "-", client.Source, Cell(client.CreatedAt), Cell(client.RevokedAt));
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
