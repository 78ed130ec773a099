using System.CommandLine;
using System.Globalization;
using Keybrake.Cli.Output;
using Keybrake.Cli.Policies;
using Keybrake.Cli.Values;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary><c>keybrake keys create|list|show|update|revoke|restore</c>, and <c>set-secret|rotate-secret</c> (<see cref="KeySecretCommands"/>).</summary>
internal static class KeysCommands
{
    public static Command Build(GlobalOptions globals, HelpExamples examples)
    {
        var keys = new Command("keys", "Create keys, show them, change their policies, revoke and restore them, and set and rotate their vendor secrets.");
        keys.Subcommands.Add(Create(globals, examples));
        keys.Subcommands.Add(List(globals, examples));
        keys.Subcommands.Add(Show(globals, examples));
        keys.Subcommands.Add(Update(globals, examples));
        keys.Subcommands.Add(SetRevoked(globals, examples, revoke: true));
        keys.Subcommands.Add(SetRevoked(globals, examples, revoke: false));
        keys.Subcommands.Add(KeySecretCommands.Set(globals, examples));
        keys.Subcommands.Add(KeySecretCommands.Rotate(globals, examples));
        examples.Add(keys,
            "keybrake keys list",
            "keybrake keys create refund-agent --vendor stripe --daily-cap 100 --run-cap 25 --allow \"POST /v1/refunds\"",
            "keybrake keys revoke refund-agent");
        return keys;
    }

    private static Argument<string> KeyId(string description) => new("key-id") { Description = description };

    private static Command Create(GlobalOptions globals, HelpExamples examples)
    {
        var keyId = KeyId("The new key's id: letters, digits, '-', '_' and '.', up to 64. The guards name the key by it.");
        var vendor = new Option<string>("--vendor") { Description = "The vendor the key is for.", Required = true };
        vendor.AcceptOnlyFromAmong(VendorNames.Vendors);
        var policy = new PolicyOptions();
        var command = new Command("create", "Create a key with its policy and print its brake key (vault_key_...), which is shown this once only.")
        {
            keyId,
            vendor,
        };
        policy.AddTo(command);
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new CreateKeyRequest { KeyId = parse.GetRequiredValue(keyId), Vendor = parse.GetRequiredValue(vendor), Policy = policy.Build(parse, current: null) };
            var reply = await session.Admin.CreateKeyAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            var warning = "Store the brake key now, as the agent's API key for the vendor: it is not shown again (the service keeps only its hash).";
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                session.Error.WriteLine(warning);
                return;
            }

            session.Out.WriteLine($"Created key {reply.Key.KeyId} ({reply.Key.Vendor}).");
            session.Out.WriteLine();
            session.Out.WriteLine($"  Brake key: {reply.BrakeKey}");
            session.Out.WriteLine();
            session.Out.WriteLine(warning);
        });
        examples.Add(command,
            "keybrake keys create refund-agent --vendor stripe --daily-cap 100 --run-cap 25 --per-request-max 50 \\\n      --allow \"POST /v1/refunds\" --scope customers=cus_123,cus_456 --time-zone America/New_York",
            "keybrake keys create sms-agent --vendor twilio --policy-file sms-policy.json --json");
        return command;
    }

    private static Command List(GlobalOptions globals, HelpExamples examples)
    {
        var vendor = new Option<string?>("--vendor") { Description = $"Only the keys for this vendor ({VendorNames.VendorList})." };
        var command = new Command("list", "List the keys, their status and caps.") { vendor };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var reply = await session.Admin.ListKeysAsync(new ListKeysRequest { Vendor = parse.GetValue(vendor) ?? string.Empty }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, reply);
                return;
            }

            if (reply.Keys.Count == 0)
            {
                session.Out.WriteLine("No keys.");
                return;
            }

            var table = new Table().Column("KEY").Column("VENDOR").Column("STATUS")
                .Column("DAILY CAP", alignRight: true).Column("RUN CAP", alignRight: true).Column("PER REQUEST", alignRight: true)
                .Column("POLICY", alignRight: true).Column("UPDATED (UTC)");
            foreach (var key in reply.Keys)
            {
                var policy = key.Policy ?? new Policy();
                table.Row(key.KeyId, key.Vendor, Status(key),
                    policy.HasDailyCapMicroUsd ? Usd.FromMicros(policy.DailyCapMicroUsd).ToString() : "none",
                    policy.HasRunCapMicroUsd ? Usd.FromMicros(policy.RunCapMicroUsd).ToString() : "none",
                    policy.HasPerRequestMaxMicroUsd ? Usd.FromMicros(policy.PerRequestMaxMicroUsd).ToString() : "none",
                    "v" + key.PolicyVersion.ToString(CultureInfo.InvariantCulture),
                    TimeText.Cell(key.UpdatedAt));
            }

            table.Write(session.Out);
        });
        examples.Add(command, "keybrake keys list", "keybrake keys list --vendor stripe --json");
        return command;
    }

    private static Command Show(GlobalOptions globals, HelpExamples examples)
    {
        var keyId = KeyId("The key's id.");
        var command = new Command("show", "Show one key and its whole policy.") { keyId };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var key = await session.Admin.GetKeyAsync(new GetKeyRequest { KeyId = parse.GetRequiredValue(keyId) }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, key);
                return;
            }

            Table.WritePairs(session.Out, Describe(key));
        });
        examples.Add(command, "keybrake keys show refund-agent", "keybrake keys show refund-agent --json | jq .policy > policy.json");
        return command;
    }

    private static Command Update(GlobalOptions globals, HelpExamples examples)
    {
        var keyId = KeyId("The key's id.");
        var policy = new PolicyOptions();
        var command = new Command(
            "update",
            "Change a key's policy. Without --policy-file, the options change those fields of the current policy and keep the rest; with it, the file replaces the policy (and the options override its fields). Every guard drops its cached copy at once.")
        {
            keyId,
        };
        policy.AddTo(command);
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            if (!policy.AnyGiven(parse))
            {
                throw new UsageException("nothing to change: give --policy-file or a policy option such as --daily-cap (see keybrake keys update --help)");
            }

            var id = parse.GetRequiredValue(keyId);
            Policy? current = null;
            if (parse.GetValue(policy.File) is null)
            {
                // Read the options before the call too, so that bad input is reported without touching the service.
                policy.Build(parse, current: null);
                current = (await session.Admin.GetKeyAsync(new GetKeyRequest { KeyId = id }, session.Call(cancellationToken)).ConfigureAwait(false)).Policy;
            }

            var request = new UpdateKeyPolicyRequest { KeyId = id, Policy = policy.Build(parse, current) };
            var key = await session.Admin.UpdateKeyPolicyAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, key);
                return;
            }

            session.Out.WriteLine($"Updated the policy of {key.KeyId} (now v{key.PolicyVersion.ToString(CultureInfo.InvariantCulture)}): {Delivery(key.Delivery, "applied it")}");
            session.Out.WriteLine();
            Table.WritePairs(session.Out, Describe(key));
        });
        examples.Add(command,
            "keybrake keys update refund-agent --daily-cap 250 --run-cap none",
            "keybrake keys update refund-agent --allow \"POST /v1/refunds\" --allow \"GET /v1/charges/*\"",
            "keybrake keys update refund-agent --policy-file policy.json");
        return command;
    }

    private static Command SetRevoked(GlobalOptions globals, HelpExamples examples, bool revoke)
    {
        var keyId = KeyId("The key's id.");
        var command = revoke
            ? new Command("revoke", "Revoke a key: every process that uses it denies its very next call. Returns once every process on the service's key event stream confirmed it (or after BudgetService:KeyEventAckTimeout, 1 s by default), and names the processes that did not.") { keyId }
            : new Command("restore", "Restore a revoked key: calls go through again, within its policy. Waits for the processes' confirmations like revoke.") { keyId };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var request = new KeyActionRequest { KeyId = parse.GetRequiredValue(keyId) };
            var call = session.Call(cancellationToken);
            var key = revoke
                ? await session.Admin.RevokeKeyAsync(request, call).ConfigureAwait(false)
                : await session.Admin.RestoreKeyAsync(request, call).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, key);
                return;
            }

            session.Out.WriteLine(revoke
                ? $"Revoked {key.KeyId}: {Delivery(key.Delivery, "deny their next call with key_revoked")}"
                : $"Restored {key.KeyId}: {Delivery(key.Delivery, "let its calls through again")}");
        });
        examples.Add(command, revoke ? "keybrake keys revoke refund-agent" : "keybrake keys restore refund-agent");
        return command;
    }

    private static string Status(KeyInfo key) => key.Revoked ? "revoked" : "active";

    /// <summary>How a change reached the processes on the key event stream, in one sentence: how many confirmed, and who did not.</summary>
    internal static string Delivery(KeyEventDelivery? delivery, string confirmedMeans)
    {
        if (delivery is null)
        {
            return "the service did not say which processes have it (is it an older version?).";
        }

        var processes = delivery.Processes.ToString(CultureInfo.InvariantCulture);
        var waited = delivery.WaitedMs.ToString(CultureInfo.InvariantCulture);
        return delivery switch
        {
            { Processes: 0 } => "no process is on the key event stream; each checks with the service when it connects.",
            { Unconfirmed.Count: 0 } => $"all {processes} processes on the key event stream confirmed (in {waited} ms), and {confirmedMeans}.",
            _ => $"{delivery.Confirmed.ToString(CultureInfo.InvariantCulture)} of {processes} processes confirmed within {waited} ms; not confirmed: {string.Join("; ", delivery.Unconfirmed)}.",
        };
    }

    /// <summary>A key and every field of its policy, as label and value.</summary>
    internal static List<(string, string)> Describe(KeyInfo key)
    {
        var policy = key.Policy ?? new Policy();
        var pairs = new List<(string, string)>
        {
            ("Key", key.KeyId),
            ("Vendor", key.Vendor),
            ("Status", Status(key)),
            ("Brake key", key.BrakeKeyIssued ? "issued (only its hash is kept)" : "none (a key from the service's configuration)"),
            ("Created", key.CreatedAt.Length > 0 ? TimeText.Cell(key.CreatedAt) + " UTC" : string.Empty),
            ("Updated", key.UpdatedAt.Length > 0 ? TimeText.Cell(key.UpdatedAt) + " UTC" : string.Empty),
            ("Vendor secret", KeySecretCommands.Describe(key)),
            ("Policy version", key.PolicyVersion.ToString(CultureInfo.InvariantCulture)),
            ("Daily cap", (policy.HasDailyCapMicroUsd ? Usd.FromMicros(policy.DailyCapMicroUsd).ToString() : "none (no money may move)") + " per day, " + (policy.TimeZone.Length > 0 ? policy.TimeZone : "UTC")),
            ("Run cap", policy.HasRunCapMicroUsd ? Usd.FromMicros(policy.RunCapMicroUsd).ToString() : "none"),
            ("Per request", policy.HasPerRequestMaxMicroUsd ? Usd.FromMicros(policy.PerRequestMaxMicroUsd).ToString() : "none"),
            ("Allow", policy.AllowEndpoints.Count > 0 ? string.Join(", ", policy.AllowEndpoints) : "any endpoint"),
            ("Deny", policy.DenyEndpoints.Count > 0 ? string.Join(", ", policy.DenyEndpoints) : "none"),
        };
        foreach (var (name, list) in policy.Scope.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            pairs.Add(($"Scope {name}", string.Join(", ", list.Values)));
        }

        foreach (var (name, limit) in policy.Limits.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            pairs.Add(($"Limit {name}", limit.ToString(CultureInfo.InvariantCulture)));
        }

        pairs.Add(("Requests per minute", policy.HasRequestsPerMinute ? policy.RequestsPerMinute.ToString(CultureInfo.InvariantCulture) : "no limit"));
        pairs.Add(("Reads during outage", policy.ReadsDuringOutage.Length > 0 ? policy.ReadsDuringOutage : "allow"));
        pairs.Add(("Unknown objects", policy.UnknownObjects.Length > 0 ? policy.UnknownObjects : "deny"));
        var repeats = policy.HasLoopBreakerMaxRepeats ? policy.LoopBreakerMaxRepeats : 3;
        var window = policy.HasLoopBreakerWindowSeconds ? policy.LoopBreakerWindowSeconds : 60;
        pairs.Add(("Loop breaker", repeats == 0 ? "off" : string.Create(CultureInfo.InvariantCulture, $"{repeats} repeats in {window} s")));
        pairs.Add(("Leases", LeaseText.Describe(policy)));
        pairs.Add(("Leased now", LeaseText.Outstanding(key)));
        pairs.Add(("Run cap includes", LeaseText.RunCapIncludes(policy)));
        return pairs;
    }
}
