using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.Processes;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Cli.Policies;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests.EndToEnd;

/// <summary>
/// The built tool as a process against the real budget service (in this process, on a loopback port, with an
/// admin token): the operator's whole story, with the service's own state checked through its gRPC API. The key
/// is cli-agent: the service's default appsettings.json, which the test output holds too, configures refund-agent.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
[Parallelizable(ParallelScope.Children)]
public sealed class RealServiceTests
{
    private const string Token = "cli-admin-token-0123456789";

    private BudgetServiceHost _service = null!;
    private GrpcChannel _channel = null!;
    private Dictionary<string, string> _environment = null!;

    private Budget.BudgetClient Budget => BudgetServiceHost.BudgetClient(_channel);

    [SetUp]
    public async Task StartService()
    {
        _service = await BudgetServiceHost.StartAsync(new Dictionary<string, string?> { ["BudgetService:AdminToken"] = Token });
        _channel = GrpcChannel.ForAddress(_service.Address);
        _environment = new() { ["KEYBRAKE_SERVER"] = _service.Address.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = Token };
    }

    [TearDown]
    public async Task StopService()
    {
        _channel.Dispose();
        await _service.DisposeAsync();
    }

    private async Task<JsonElement> Json(params string[] args)
    {
        var result = await CliProcess.RunAsync([.. args, "--json"], _environment);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        return result.Json();
    }

    private Task<CliResult> Run(params string[] args) => CliProcess.RunAsync(args, _environment);

    [Test]
    public async Task An_operator_creates_a_key_changes_its_policy_and_revokes_and_restores_it()
    {
        var created = await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100", "--run-cap", "25", "--allow", "POST /v1/refunds");
        var listed = await Json("keys", "list");
        var updated = await Json("keys", "update", "cli-agent", "--daily-cap", "250.50", "--run-cap", "none");
        var shown = await Json("keys", "show", "cli-agent");

        Assert.Multiple(() =>
        {
            Assert.That(created.GetProperty("brakeKey").GetString(), Does.StartWith("vault_key_"));
            Assert.That(created.GetProperty("key").GetProperty("policy").GetProperty("dailyCapMicroUsd").GetString(), Is.EqualTo("100000000"));
            Assert.That(listed.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("keyId").GetString()), Does.Contain("cli-agent"));
            Assert.That(updated.GetProperty("policyVersion").GetString(), Is.Not.EqualTo(created.GetProperty("key").GetProperty("policyVersion").GetString()));
            var policy = shown.GetProperty("policy");
            Assert.That(policy.GetProperty("dailyCapMicroUsd").GetString(), Is.EqualTo("250500000"));
            Assert.That(policy.GetProperty("runCapMicroUsd").ValueKind, Is.EqualTo(JsonValueKind.Null), "--run-cap none removed the run cap");
            Assert.That(policy.GetProperty("allowEndpoints").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "POST /v1/refunds" }), "kept");
        });

        Assert.That((await Authorize("cli-agent", 1)).Allowed, Is.True);
        var revoke = await Run("keys", "revoke", "cli-agent");
        var whileRevoked = await Authorize("cli-agent", 1);
        var restored = await Json("keys", "restore", "cli-agent");
        var afterRestore = await Authorize("cli-agent", 1);

        Assert.Multiple(() =>
        {
            Assert.That(revoke.ExitCode, Is.Zero, revoke.ToString());
            Assert.That(revoke.Out, Does.Contain("Revoked cli-agent"));
            Assert.That(whileRevoked.Allowed, Is.False, "the next call after the revoke returned is denied");
            Assert.That(whileRevoked.Reason, Is.EqualTo("key_revoked"));
            Assert.That(restored.GetProperty("revoked").GetBoolean(), Is.False);
            Assert.That(afterRestore.Allowed, Is.True);
        });
    }

    [Test]
    public async Task Spend_audit_and_reservations_show_what_the_guards_did_and_a_reservation_is_resolved()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");
        var settled = await Authorize("cli-agent", 10, "run_abc");
        await Budget.SettleAsync(new SettleRequest { Settlements = { new Settlement { ReservationId = settled.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = 7_500_000 } } });
        var held = await Authorize("cli-agent", 5, "run_abc");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        await Budget.SubmitAuditAsync(new SubmitAuditRequest
        {
            Records =
            {
                Record("rec-1", now - 2, "run_abc", "allow", ""),
                Record("rec-2", now - 1, "run_abc", "deny", "daily_cap_exceeded"),
                Record("rec-3", now, "run_other", "allow", ""),
            },
        });

        var spend = await Json("spend", "--run", "run_abc");
        var audit = await Json("audit", "--run", "run_abc");
        var denied = await Json("audit", "--run", "run_abc", "--decision", "deny");
        var deniedSpelledOut = await Json("audit", "--run", "run_abc", "--decision", "denied");
        var csv = await Run("audit", "--run", "run_abc", "--format", "csv");
        var jsonl = await Run("audit", "--key", "cli-agent", "--format", "jsonl");
        var unsettled = await Json("reservations");
        var resolve = await Run("reservations", "resolve", held.ReservationId, "--actual", "4.25");
        var after = await Json("spend", "--run", "run_abc");
        var table = await Run("spend", "--run", "run_abc");

        Assert.Multiple(() =>
        {
            Assert.That(spend.GetProperty("totalSettledMicroUsd").GetString(), Is.EqualTo("7500000"));
            Assert.That(spend.GetProperty("totalReservedMicroUsd").GetString(), Is.EqualTo("5000000"));
            Assert.That(audit.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("recordId").GetString()), Is.EqualTo(new[] { "rec-2", "rec-1" }), "newest first, one run");
            Assert.That(denied.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("recordId").GetString()), Is.EqualTo(new[] { "rec-2" }));
            Assert.That(deniedSpelledOut.GetProperty("records").GetArrayLength(), Is.EqualTo(1), "denied reads as deny");
            Assert.That(csv.ExitCode, Is.Zero, csv.ToString());
            Assert.That(csv.Out, Does.Contain("rec-1").And.Contain("rec-2").And.Not.Contain("rec-3"));
            Assert.That(jsonl.ExitCode, Is.Zero, jsonl.ToString());
            var lines = jsonl.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(3));
            Assert.That(lines.Select(line => JsonDocument.Parse(line).RootElement.ValueKind), Is.All.EqualTo(JsonValueKind.Object));
            Assert.That(unsettled.GetProperty("reservations").EnumerateArray().Select(r => r.GetProperty("reservationId").GetString()), Is.EqualTo(new[] { held.ReservationId }));
            Assert.That(resolve.ExitCode, Is.Zero, resolve.ToString());
            Assert.That(after.GetProperty("totalSettledMicroUsd").GetString(), Is.EqualTo("11750000"));
            Assert.That(after.GetProperty("totalReservedMicroUsd").GetString(), Is.EqualTo("0"));
            Assert.That(table.Out, Does.Contain("$11.75").And.Contain("Total: $11.75 settled, $0.00 reserved."));
        });
    }

    [Test]
    public async Task Spend_shows_a_day_that_settled_prices_took_over_its_cap_and_only_that_day()
    {
        // Two Twilio messages reserved at the table's $0.0083 each fit a $0.03 cap; both settle at $0.0249 (carrier
        // fees): $0.0498 settled, $0.0198 over. The other key settles the same under a $1 cap, which an operator then
        // lowers below its spend: the overrun is recorded when a price settles, so lowering the cap invents none.
        await Json("keys", "create", "cli-agent", "--vendor", "twilio", "--daily-cap", "0.03");
        await Json("keys", "create", "cli-within", "--vendor", "twilio", "--daily-cap", "1");
        foreach (var keyId in new[] { "cli-agent", "cli-within" })
        {
            var first = await Authorize(keyId, 0.0083m);
            var second = await Authorize(keyId, 0.0083m);
            await Budget.SettleAsync(new SettleRequest
            {
                Settlements =
                {
                    new Settlement { ReservationId = first.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = 24_900 },
                    new Settlement { ReservationId = second.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = 24_900 },
                },
            });
        }

        await Json("keys", "update", "cli-within", "--daily-cap", "0.01");
        var over = await Run("spend", "--key", "cli-agent");
        var overJson = await Json("spend", "--key", "cli-agent");
        var within = await Run("spend", "--key", "cli-within");
        var withinJson = await Json("spend", "--key", "cli-within");

        Assert.Multiple(() =>
        {
            Assert.That(over.ExitCode, Is.Zero, over.ToString());
            Assert.That(over.Out, Does.Contain("OVER CAP by $0.0198"), over.Out);
            Assert.That(overJson.GetProperty("rows")[0].GetProperty("overrunMicroUsd").GetString(), Is.EqualTo("19800"));
            Assert.That(overJson.GetProperty("totalOverrunMicroUsd").GetString(), Is.EqualTo("19800"));
            Assert.That(within.ExitCode, Is.Zero, within.ToString());
            Assert.That(within.Out, Does.Contain("$0.0498").And.Not.Contain("OVER CAP"), within.Out);
            Assert.That(withinJson.GetProperty("rows")[0].GetProperty("overrunMicroUsd").GetString(), Is.EqualTo("0"), "within the cap when it settled");
        });
    }

    [Test]
    public async Task Vendor_limits_and_allowlists_in_the_documented_spelling_are_accepted_by_the_service()
    {
        var sms = await Json("keys", "create", "sms-agent", "--vendor", "twilio", "--daily-cap", "10", "--vendor-limit", "max_segments=3", "--scope", "destinations=+15550001111");
        var mail = await Json("keys", "create", "mail-agent", "--vendor", "resend", "--daily-cap", "10", "--vendor-limit", "maxRecipientsPerEmail=5", "--scope", "recipient_domains=example.com");
        var updated = await Json("keys", "update", "sms-agent", "--vendor-limit", "max_segments=");

        Assert.Multiple(() =>
        {
            var smsPolicy = sms.GetProperty("key").GetProperty("policy");
            Assert.That(smsPolicy.GetProperty("limits").GetProperty("maxSegments").GetString(), Is.EqualTo("3"));
            Assert.That(smsPolicy.GetProperty("scope").GetProperty("destinations").GetProperty("values")[0].GetString(), Is.EqualTo("+15550001111"));
            var mailPolicy = mail.GetProperty("key").GetProperty("policy");
            Assert.That(mailPolicy.GetProperty("limits").GetProperty("maxRecipientsPerEmail").GetString(), Is.EqualTo("5"));
            Assert.That(mailPolicy.GetProperty("scope").GetProperty("recipientDomains").GetProperty("values")[0].GetString(), Is.EqualTo("example.com"));
            Assert.That(updated.GetProperty("policy").GetProperty("limits").EnumerateObject(), Is.Empty, "max_segments= removed the limit");
        });
    }

    [Test]
    public async Task Json_output_has_every_field_and_the_outage_behaviour_in_force()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");
        await Json("keys", "create", "deny-agent", "--vendor", "stripe", "--daily-cap", "100", "--reads-during-outage", "deny");

        var shown = await Json("keys", "show", "cli-agent");
        var listed = await Json("keys", "list");

        var policy = shown.GetProperty("policy");
        var outage = listed.GetProperty("keys").EnumerateArray().ToDictionary(k => k.GetProperty("keyId").GetString()!, k => k.GetProperty("policy").GetProperty("readsDuringOutage").GetString());
        Assert.Multiple(() =>
        {
            Assert.That(policy.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(Policy.Descriptor.Fields.InDeclarationOrder().Select(f => f.JsonName)), "every field, set or not");
            Assert.That(shown.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(KeyInfo.Descriptor.Fields.InDeclarationOrder().Select(f => f.JsonName)));
            Assert.That(policy.GetProperty("runCapMicroUsd").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(policy.GetProperty("requestsPerMinute").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(policy.GetProperty("allowEndpoints").GetArrayLength(), Is.Zero);
            Assert.That(outage["cli-agent"], Is.EqualTo("allow"), "the default in force, never \"\"");
            Assert.That(outage["deny-agent"], Is.EqualTo("deny"));
        });
    }

    [Test]
    public async Task A_wrong_token_exits_3_and_changes_nothing()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");

        var result = await CliProcess.RunAsync(["keys", "revoke", "cli-agent"], new Dictionary<string, string> { ["KEYBRAKE_SERVER"] = _service.Address.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = "not-the-admin-token-at-all" });

        var after = await Authorize("cli-agent", 1);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
            Assert.That(result.Error.Trim(), Is.EqualTo("error: the admin token was refused (set --token or KEYBRAKE_ADMIN_TOKEN)"));
            Assert.That(after.Allowed, Is.True, "the key was not revoked");
        });
    }

    [Test]
    public async Task A_lease_policy_and_run_cap_includes_round_trip_through_the_service()
    {
        var file = Path.Combine(Path.GetTempPath(), $"keybrake-policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{ "dailyCapMicroUsd": "100000000", "runCapMicroUsd": "25000000", "lease": { "enabled": true, "maxSliceMicroUsd": "2500000", "ttlMilliseconds": "45000" }, "runCapIncludes": ["llm"] }""");
        try
        {
            await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--policy-file", file);
            var created = (await Json("keys", "show", "cli-agent")).GetProperty("policy");
            var createdTable = await Run("keys", "show", "cli-agent");
            await Json("keys", "update", "cli-agent", "--lease", "off", "--lease-ttl", "none", "--run-cap-includes", "none");
            var updated = PolicyOptions.Parse((await Json("keys", "show", "cli-agent")).GetProperty("policy").GetRawText(), "keys show");
            var updatedTable = await Run("keys", "show", "cli-agent");

            Assert.Multiple(() =>
            {
                var lease = created.GetProperty("lease");
                Assert.That((lease.GetProperty("enabled").GetBoolean(), lease.GetProperty("maxSliceMicroUsd").GetString(), lease.GetProperty("ttlMilliseconds").GetString()), Is.EqualTo((true, "2500000", "45000")));
                Assert.That(created.GetProperty("runCapIncludes").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "llm" }));
                Assert.That(createdTable.Out, Does.Contain("Leases               on, slices of at most $2.50 lasting 45 s"));
                Assert.That(createdTable.Out, Does.Contain("Run cap includes     the key's calls and the run's LLM spend"));
                Assert.That(updated.Lease, Is.EqualTo(new LeasePolicy { Enabled = false, MaxSliceMicroUsd = 2_500_000 }), "--lease off kept the slice, --lease-ttl none removed the TTL");
                Assert.That(updated.RunCapIncludes, Is.Empty);
                Assert.That(updated.RunCapMicroUsd, Is.EqualTo(25_000_000), "kept");
                Assert.That(updatedTable.Out, Does.Contain("Leases               off (every money call asks the service)").And.Contain("Run cap includes     the key's calls only"));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Leases_list_and_keys_show_what_processes_hold_and_what_a_process_that_is_gone_strands()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100", "--lease", "on");

        // A process: its key event stream (the lease's holder), and a $2 slice of the key's budget.
        using var watching = new CancellationTokenSource();
        var stream = Budget.WatchKeys(new WatchKeysRequest { KeyIds = { "cli-agent" }, SubscriberName = "cli-test/agent" }, cancellationToken: watching.Token);
        Assert.That(await stream.ResponseStream.MoveNext(watching.Token), Is.True);
        var holder = stream.ResponseStream.Current.SubscriberId;
        var lease = await Budget.LeaseAsync(new LeaseRequest { KeyId = "cli-agent", LeaseId = "lse_cli_test_0001", Sequence = 1, RequestedMicroUsd = 2_000_000, Holder = holder });
        var held = await Run("leases", "list");
        var shown = await Run("keys", "show", "cli-agent");

        // The process goes away without giving its lease back.
        watching.Cancel();
        stream.Dispose();
        var stranded = await Poll.UntilAsync(() => Json("leases", "list"), json => json.TryGetProperty("strandedMicroUsd", out var amount) && amount.GetString() == "2000000");
        var strandedTable = await Run("leases", "list", "--key", "cli-agent");
        var strandedKey = await Run("keys", "show", "cli-agent");

        Assert.Multiple(() =>
        {
            Assert.That((lease.Granted, lease.GrantedMicroUsd), Is.EqualTo((true, 2_000_000L)));
            Assert.That(held.ExitCode, Is.Zero, held.ToString());
            Assert.That(held.Out, Does.Contain("lse_cli_test_0001").And.Contain("cli-test/agent").And.Contain("active").And.Contain("$2.00"));
            Assert.That(held.Out, Does.Contain("Held by active leases: $2.00; stranded (process gone, back when the TTL ends): $0.00."));
            Assert.That(shown.Out, Does.Contain("Leased now           $2.00 held by processes' leases"));
            Assert.That(stranded.GetProperty("leases")[0].GetProperty("stranded").GetBoolean(), Is.True);
            Assert.That(strandedTable.Out, Does.Contain("stranded").And.Contain("stranded (process gone, back when the TTL ends): $2.00."));
            Assert.That(strandedKey.Out, Does.Contain("$2.00 of it stranded"));
        });
    }

    [Test]
    public async Task Bad_lease_values_exit_with_one_line_and_leave_the_policy_as_it_was()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100", "--lease", "on");
        var file = Path.Combine(Path.GetTempPath(), $"keybrake-policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{ "dailyCapMicroUsd": "100000000", "lease": { "ttlMilliseconds": "500" }, "runCapIncludes": ["tokens"] }""");
        try
        {
            var badTtl = await Run("keys", "update", "cli-agent", "--lease-ttl", "7200");
            var badSlice = await Run("keys", "update", "cli-agent", "--lease-max-slice", "0");
            var badInclude = await Run("keys", "update", "cli-agent", "--run-cap-includes", "tokens");
            var badMode = await Run("keys", "update", "cli-agent", "--lease", "sometimes");
            var refused = await Run("keys", "update", "cli-agent", "--policy-file", file);
            var policy = PolicyOptions.Parse((await Json("keys", "show", "cli-agent")).GetProperty("policy").GetRawText(), "keys show");

            Assert.Multiple(() =>
            {
                foreach (var (result, message) in new[]
                {
                    (badTtl, "--lease-ttl: '7200' is more than 3600 seconds"),
                    (badSlice, "--lease-max-slice: a slice must be more than $0"),
                    (badInclude, "--run-cap-includes: 'tokens' is not something a run cap can include"),
                    (badMode, "sometimes"),
                })
                {
                    Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
                    Assert.That(result.Error.Trim().Split('\n'), Has.Length.EqualTo(1).And.Some.Contains(message), result.ToString());
                }

                Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
                Assert.That(refused.Error, Does.StartWith("error: ").And.Contain("lease").And.Contain("run_cap_includes"), refused.ToString());
                Assert.That(policy.Lease, Is.EqualTo(new LeasePolicy { Enabled = true }), "nothing changed");
                Assert.That(policy.RunCapIncludes, Is.Empty);
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Bad_input_exits_2_and_leaves_the_service_as_it_was()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");
        var file = Path.Combine(Path.GetTempPath(), $"keybrake-policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{ "dailyCapMicroUsd": "1", "dailyCapDollars": 1 }""");
        try
        {
            var badAmount = await Run("keys", "update", "cli-agent", "--daily-cap", "1.0000001");
            var badFile = await Run("keys", "update", "cli-agent", "--policy-file", file);
            var badCreate = await Run("keys", "create", "other-agent", "--vendor", "stripe", "--daily-cap", "-3");
            var keys = await Json("keys", "list");
            var policy = (await Json("keys", "show", "cli-agent")).GetProperty("policy");

            Assert.Multiple(() =>
            {
                Assert.That(badAmount.ExitCode, Is.EqualTo(2), badAmount.ToString());
                Assert.That(badAmount.Error, Does.Contain("--daily-cap: '1.0000001' has more than six digits after the point"));
                Assert.That(badFile.ExitCode, Is.EqualTo(2), badFile.ToString());
                Assert.That(badFile.Error, Does.Contain("is not a valid policy").And.Contain("dailyCapDollars"));
                Assert.That(badCreate.ExitCode, Is.EqualTo(2), badCreate.ToString());
                Assert.That(keys.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("keyId").GetString()), Does.Contain("cli-agent").And.Not.Contain("other-agent"));
                Assert.That(policy.GetProperty("dailyCapMicroUsd").GetString(), Is.EqualTo("100000000"));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task A_policy_the_service_rejects_exits_1_with_its_message_naming_the_field()
    {
        var result = await Run("keys", "create", "zone-agent", "--vendor", "stripe", "--daily-cap", "100", "--time-zone", "Mars/Olympus_Mons");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Error, Does.StartWith("error: ").And.Match("(?i)time_?zone"));
    }

    [Test]
    public async Task Spend_of_a_run_shows_the_LLM_tokens_the_service_holds_for_it_beside_the_SaaS_dollars()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");
        var settled = await Authorize("cli-agent", 10, "run_llm");
        await Budget.SettleAsync(new SettleRequest { Settlements = { new Settlement { ReservationId = settled.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = 7_500_000 } } });

        // LLM spend written into the service's store as its LiteLLM intake writes it.
        await LlmSpendSeed.IntoFileAsync(_service.StoragePath,
            new LlmSpendRow("chatcmpl-1", "run_llm", 2_250_000, "gpt-4o-mini", "openai", DateTimeOffset.UnixEpoch),
            new LlmSpendRow("chatcmpl-2", "run_llm", 1_000_000, "gpt-4o-mini", "openai", DateTimeOffset.UnixEpoch));

        var table = await Run("spend", "--run", "run_llm");
        var json = await Json("spend", "--run", "run_llm");

        Assert.Multiple(() =>
        {
            Assert.That(table.ExitCode, Is.Zero, table.ToString());
            Assert.That(table.Out, Does.Contain("run_llm  $7.50       $3.25          2  $10.75"), table.Out);
            Assert.That(table.Out, Does.Contain("gpt-4o-mini  openai        2  $3.25"), table.Out);
            Assert.That(json.GetProperty("totalSettledMicroUsd").GetString(), Is.EqualTo("7500000"));
            Assert.That(json.GetProperty("run").GetProperty("llmMicroUsd").GetString(), Is.EqualTo("3250000"));
            Assert.That(json.GetProperty("run").GetProperty("totalMicroUsd").GetString(), Is.EqualTo("10750000"));
        });
    }

    private async Task<AuthorizeReply> Authorize(string keyId, decimal dollars, string runId = "") =>
        await Budget.AuthorizeAsync(AuthorizeRequest(keyId, dollars, runId));

    private static AuthorizeRequest AuthorizeRequest(string keyId, decimal dollars, string runId = "") => new()
    {
        KeyId = keyId,
        RunId = runId,
        IdempotencyKey = "idem_" + Guid.NewGuid().ToString("N"),
        EstimateMicroUsd = (long)(dollars * 1_000_000),
        RequestHash = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
    };

    [Test]
    public async Task An_operator_issues_a_scoped_client_credential_lists_it_and_revokes_it()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");
        await Json("keys", "create", "cli-other", "--vendor", "stripe", "--daily-cap", "100");

        var created = await Run("clients", "create", "fleet-a", "--keys", "cli-agent,sms-agent");
        var token = created.Out.Split('\n').Select(line => line.Trim()).Single(line => line.StartsWith("Token", StringComparison.Ordinal)).Split(' ')[^1];
        var scoped = BudgetServiceHost.BudgetClient(_channel, token);
        var inScope = await scoped.AuthorizeAsync(AuthorizeRequest("cli-agent", 1));
        var outOfScope = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await scoped.AuthorizeAsync(AuthorizeRequest("cli-other", 1)));
        var table = await Run("clients", "list");
        var listed = await Json("clients", "list");

        Assert.Multiple(() =>
        {
            Assert.That(created.ExitCode, Is.Zero, created.ToString());
            Assert.That(created.Out, Does.Contain("Created client fleet-a for keys cli-agent, sms-agent."));
            Assert.That(token, Does.StartWith("kbc_").And.Length.EqualTo(47));
            Assert.That(inScope.Allowed, Is.True, "the printed token is one the service accepts");
            Assert.That(outOfScope!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.PermissionDenied));
            Assert.That(table.Out, Does.Match(@"fleet-a\s+active\s+cli-agent,sms-agent\s+-\s+admin").And.Not.Contain(token), "the token is shown once only");
            var fleet = listed.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("clientId").GetString() == "fleet-a");
            Assert.That(fleet.GetProperty("keyIds").EnumerateArray().Select(k => k.GetString()), Is.EqualTo(new[] { "cli-agent", "sms-agent" }));
            Assert.That(fleet.GetProperty("revoked").GetBoolean(), Is.False);
        });

        // A process streaming with the credential that never confirms: the revoke waits out the bound and names it.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var silent = scoped.WatchKeys(new WatchKeysRequest { SubscriberName = "web-2/202/Fleet.Agent" }, cancellationToken: cancel.Token);
        Assert.That(await silent.ResponseStream.MoveNext(cancel.Token), Is.True, "the snapshot: the stream is open");
        var revoke = await Run("clients", "revoke", "fleet-a");
        var afterRevoke = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await scoped.AuthorizeAsync(AuthorizeRequest("cli-agent", 1)));
        var again = await Run("clients", "create", "fleet-a", "--keys", "cli-agent");
        var unknown = await Run("clients", "revoke", "nobody");
        var revokedList = await Json("clients", "list");

        Assert.Multiple(() =>
        {
            Assert.That(revoke.ExitCode, Is.Zero, revoke.ToString());
            Assert.That(revoke.Out, Does.Match(@"^Revoked client fleet-a: the service refuses its calls; 0 of 1 processes confirmed within \d+ ms; not confirmed: web-2/202/Fleet\.Agent at \S+\.\s*$"));
            Assert.That(afterRevoke!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Unauthenticated), "refused right after the revoke returned");
            Assert.That((again.ExitCode, again.Error.Trim()), Is.EqualTo((1, "error: client 'fleet-a' already exists")));
            Assert.That(unknown.ExitCode, Is.Not.Zero);
            Assert.That(revokedList.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("clientId").GetString() == "fleet-a").GetProperty("revoked").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task An_operator_issues_an_intake_only_credential_for_litellm_which_can_make_no_budget_call()
    {
        await Json("keys", "create", "cli-agent", "--vendor", "stripe", "--daily-cap", "100");

        var created = await Run("clients", "create", "litellm-proxy", "--integration", "litellm");
        var both = await Run("clients", "create", "fleet-b", "--keys", "cli-agent", "--integration", "litellm");
        var unknown = await Run("clients", "create", "fleet-c", "--integration", "langfuse");
        var token = created.Out.Split('\n').Select(line => line.Trim()).Single(line => line.StartsWith("Token", StringComparison.Ordinal)).Split(' ')[^1];
        var refused = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await BudgetServiceHost.BudgetClient(_channel, token).AuthorizeAsync(AuthorizeRequest("cli-agent", 1)));
        var table = await Run("clients", "list");
        var listed = await Json("clients", "list");

        Assert.Multiple(() =>
        {
            Assert.That(created.ExitCode, Is.Zero, created.ToString());
            Assert.That(created.Out, Does.Contain("Created client litellm-proxy for no key and the intake integrations litellm."));
            Assert.That(both.Out, Does.Contain("Created client fleet-b for keys cli-agent and the intake integrations litellm."), both.ToString());
            Assert.That(unknown.ExitCode, Is.EqualTo(1), unknown.ToString());
            Assert.That(unknown.Error, Does.Contain("integration 'langfuse' is not known"));
            Assert.That(refused!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.PermissionDenied), "an intake-only credential makes no Budget call");
            Assert.That(table.Out, Does.Match(@"litellm-proxy\s+active\s+-\s+litellm\s+admin").And.Not.Contain(token));
            var proxy = listed.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("clientId").GetString() == "litellm-proxy");
            Assert.That(proxy.GetProperty("integrations").EnumerateArray().Select(k => k.GetString()), Is.EqualTo(new[] { "litellm" }));
        });
    }

    [Test]
    public async Task Creating_a_client_without_keys_is_a_usage_error()
    {
        var result = await Run("clients", "create", "fleet-a");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Error, Does.Contain("--keys"));
        });
    }

    private static AuditRecord Record(string id, long timestampMicros, string runId, string decision, string reason) => new()
    {
        RecordId = id,
        TimestampUnixMicros = timestampMicros,
        KeyId = "cli-agent",
        Vendor = "stripe",
        Method = "POST",
        Endpoint = "/v1/refunds",
        EstimatedMicroUsd = 1_000_000,
        Decision = decision,
        Reason = reason,
        RunId = runId,
        IdempotencyKey = "idem_" + id,
    };
}
