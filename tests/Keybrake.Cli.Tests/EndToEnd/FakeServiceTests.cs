using Keybrake.Client.TestUtilities.Processes;
using System.Net;
using System.Net.Sockets;
using Keybrake.Cli.Tests.Fakes;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests.EndToEnd;

/// <summary>
/// The built tool as a process against a real gRPC server hosting a fake BudgetAdmin: what goes over the wire
/// (the token, the requests, exact amounts), what comes out (tables, JSON, raw exports) and the exit codes.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
[Parallelizable(ParallelScope.Children)]
public sealed class FakeServiceTests
{
    private FakeAdminServer _server = null!;
    private Dictionary<string, string> _environment = null!;

    private FakeBudgetAdmin Admin => _server.Admin;

    [SetUp]
    public async Task StartServer()
    {
        _server = await FakeAdminServer.StartAsync();
        _environment = new() { ["KEYBRAKE_SERVER"] = _server.Address.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = FakeBudgetAdmin.Token };
    }

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private Task<CliResult> Run(params string[] args) => CliProcess.RunAsync(args, _environment);

    [Test]
    public async Task Keys_create_sends_the_policy_in_exact_micro_usd_with_the_bearer_token_and_prints_the_brake_key_once()
    {
        var result = await Run("keys", "create", "refund-agent", "--vendor", "stripe", "--daily-cap", "100", "--run-cap", "25.10",
            "--per-request-max", "0.000001", "--allow", "POST /v1/refunds", "--scope", "customers=cus_1,cus_2");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var request = Admin.Only<CreateKeyRequest>();
        Assert.Multiple(() =>
        {
            Assert.That(Admin.AuthorizationHeaders, Is.All.EqualTo("Bearer " + FakeBudgetAdmin.Token));
            Assert.That(request.KeyId, Is.EqualTo("refund-agent"));
            Assert.That(request.Vendor, Is.EqualTo("stripe"));
            Assert.That(request.Policy.DailyCapMicroUsd, Is.EqualTo(100_000_000));
            Assert.That(request.Policy.RunCapMicroUsd, Is.EqualTo(25_100_000));
            Assert.That(request.Policy.PerRequestMaxMicroUsd, Is.EqualTo(1));
            Assert.That(request.Policy.AllowEndpoints, Is.EqualTo(new[] { "POST /v1/refunds" }));
            Assert.That(request.Policy.Scope["customers"].Values, Is.EqualTo(new[] { "cus_1", "cus_2" }));
            Assert.That(result.Out, Does.Contain($"Brake key: {FakeBudgetAdmin.BrakeKey}").And.Contain("it is not shown again"));
            Assert.That(result.Out + result.Error, Does.Not.Contain(FakeBudgetAdmin.Token));
        });
    }

    [Test]
    public async Task Keys_create_with_json_writes_the_reply_as_one_json_document()
    {
        var result = await Run("keys", "create", "sms-agent", "--vendor", "twilio", "--daily-cap", "5", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var json = result.Json();
        Assert.Multiple(() =>
        {
            Assert.That(json.GetProperty("brakeKey").GetString(), Is.EqualTo(FakeBudgetAdmin.BrakeKey));
            Assert.That(json.GetProperty("key").GetProperty("keyId").GetString(), Is.EqualTo("sms-agent"));
            Assert.That(json.GetProperty("key").GetProperty("policy").GetProperty("dailyCapMicroUsd").GetString(), Is.EqualTo("5000000"));
            Assert.That(json.GetProperty("key").GetProperty("revoked").GetBoolean(), Is.False, "default values are written too");
            Assert.That(result.Error, Does.Contain("it is not shown again"), "the warning stays out of the JSON");
        });
    }

    [Test]
    public async Task Keys_list_shows_a_table_with_dollars_and_the_same_as_json()
    {
        Admin.AddKey("refund-agent", "stripe", new Policy { DailyCapMicroUsd = 100_000_000, RunCapMicroUsd = 2_500_000 });
        Admin.AddKey("sms", "twilio", new Policy { DailyCapMicroUsd = 7_500 }, revoked: true);

        var table = await Run("keys", "list");
        var json = await Run("keys", "list", "--json");

        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        var lines = table.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Does.StartWith("KEY ").And.Contain("DAILY CAP"));
            Assert.That(lines[1], Does.Match(@"^refund-agent\s+stripe\s+active\s+\$100\.00\s+\$2\.50\s+none\s+v1\s+2025-06-01 12:00:00$"));
            Assert.That(lines[2], Does.Match(@"^sms\s+twilio\s+revoked\s+\$0\.0075\s+none\s+none\s+v1\s+2025-06-01 12:00:00$"));
            Assert.That(lines[1].IndexOf("$100.00", StringComparison.Ordinal) + 7, Is.EqualTo(lines[2].IndexOf("$0.0075", StringComparison.Ordinal) + 7), "amounts are right-aligned");
            Assert.That(json.Json().GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("keyId").GetString()), Is.EqualTo(new[] { "refund-agent", "sms" }));
        });
    }

    [Test]
    public async Task Keys_update_changes_the_given_fields_of_the_current_policy_and_keeps_the_rest()
    {
        Admin.AddKey("refund-agent", "stripe", new Policy { DailyCapMicroUsd = 100_000_000, RunCapMicroUsd = 25_000_000, AllowEndpoints = { "POST /v1/refunds" } });

        var result = await Run("keys", "update", "refund-agent", "--daily-cap", "250", "--run-cap", "none");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var sent = Admin.Only<UpdateKeyPolicyRequest>();
        Assert.Multiple(() =>
        {
            Assert.That(sent.Policy, Is.EqualTo(new Policy { DailyCapMicroUsd = 250_000_000, AllowEndpoints = { "POST /v1/refunds" } }));
            Assert.That(result.Out, Does.Contain("now v2").And.Contain("$250.00"));
        });
    }

    [Test]
    public async Task Revoke_and_restore_report_the_key_state()
    {
        Admin.AddKey("refund-agent", "stripe", new Policy { DailyCapMicroUsd = 1 });

        var revoked = await Run("keys", "revoke", "refund-agent", "--json");
        var restored = await Run("keys", "restore", "refund-agent");

        Assert.Multiple(() =>
        {
            Assert.That(revoked.ExitCode, Is.Zero, revoked.ToString());
            Assert.That(revoked.Json().GetProperty("revoked").GetBoolean(), Is.True);
            Assert.That(restored.ExitCode, Is.Zero, restored.ToString());
            Assert.That(restored.Out, Does.Contain("Restored refund-agent"));
            Assert.That(Admin.Requests.Select(r => r.GetType()), Is.EqualTo(new[] { typeof(KeyActionRequest), typeof(KeyActionRequest) }));
        });
    }

    [Test]
    public async Task Audit_follows_the_pages_until_the_limit_and_prints_where_to_continue()
    {
        Admin.Audit.AddRange(Enumerable.Range(0, 250).Select(i => new AuditRecord
        {
            RecordId = $"r{i}", KeyId = "refund-agent", RunId = "run_abc", Method = "POST", Endpoint = "/v1/refunds",
            Decision = "allow", EstimatedMicroUsd = 1_500_000, SettledMicroUsd = 1_500_000, HttpStatus = 200,
            TimestampUnixMicros = 1_748_779_200_000_000 + i,
        }));

        var result = await Run("audit", "--run", "run_abc", "--decision", "allow", "--from", "2025-06-01", "--limit", "150", "--json");
        var table = await Run("audit", "--run", "run_abc", "--limit", "2");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var requests = Admin.Requests.OfType<QueryAuditRequest>().ToList();
        var json = result.Json();
        Assert.Multiple(() =>
        {
            Assert.That(json.GetProperty("records").GetArrayLength(), Is.EqualTo(150));
            Assert.That(json.GetProperty("nextPageToken").GetString(), Is.EqualTo("150"));
            Assert.That(requests[0].RunId, Is.EqualTo("run_abc"));
            Assert.That(requests[0].Decision, Is.EqualTo("allow"));
            Assert.That(requests[0].From, Is.EqualTo("2025-06-01T00:00:00Z"));
            Assert.That(requests[1].PageToken, Is.EqualTo("100"), "the second page continues from the first");
            Assert.That(requests[1].PageSize, Is.EqualTo(50), "only what is still wanted");
            Assert.That(table.Out, Does.Contain("2025-06-01 12:00:00  refund-agent  run_abc  POST /v1/refunds  allow").And.Contain("$1.50"));
            Assert.That(table.Out, Does.Contain("More records: add --page-token 2"));
        });
    }

    [Test]
    public async Task Audit_export_writes_the_chunks_byte_for_byte_to_standard_output_or_a_file()
    {
        Admin.ExportChunks.AddRange(["record_id,key_id,cost\n", "r1,agent,1.50\n", "r2,agent,\"a, b\"\n"]);
        var file = Path.Combine(Path.GetTempPath(), $"keybrake-audit-{Guid.NewGuid():N}.csv");
        try
        {
            var toStdout = await Run("audit", "--key", "agent", "--format", "csv");
            var toFile = await Run("audit", "--format", "jsonl", "--output", file);

            Assert.Multiple(() =>
            {
                Assert.That(toStdout.ExitCode, Is.Zero, toStdout.ToString());
                Assert.That(toStdout.Out, Is.EqualTo(string.Concat(Admin.ExportChunks)));
                Assert.That(toFile.ExitCode, Is.Zero, toFile.ToString());
                Assert.That(File.ReadAllText(file), Is.EqualTo(string.Concat(Admin.ExportChunks)));
                Assert.That(toFile.Out, Is.Empty);
                var requests = Admin.Requests.OfType<ExportAuditRequest>().ToList();
                Assert.That(requests.Select(r => r.Format), Is.EqualTo(new[] { "csv", "jsonl" }));
                Assert.That(requests[0].KeyId, Is.EqualTo("agent"));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Spend_shows_the_grouped_rows_and_totals_in_dollars()
    {
        Admin.Spend = new QuerySpendReply
        {
            Rows = { new SpendRow { KeyId = "refund-agent", RunId = "run_abc", SettledMicroUsd = 12_500_000, ReservedMicroUsd = 7_500 } },
            TotalSettledMicroUsd = 12_500_000,
            TotalReservedMicroUsd = 7_500,
        };

        var result = await Run("spend", "--run", "run_abc");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var request = Admin.Only<QuerySpendRequest>();
        Assert.Multiple(() =>
        {
            Assert.That(request.RunId, Is.EqualTo("run_abc"));
            Assert.That(request.GroupBy, Is.EqualTo(new[] { "key", "run" }));
            Assert.That(result.Out, Does.Contain("KEY           RUN      SETTLED  RESERVED"));
            Assert.That(result.Out, Does.Contain("refund-agent  run_abc   $12.50   $0.0075"));
            Assert.That(result.Out, Does.Contain("Total: $12.50 settled, $0.0075 reserved."));
        });
    }

    [Test]
    public async Task Spend_of_a_run_shows_its_LLM_tokens_beside_its_SaaS_dollars_by_model_and_what_a_combined_run_cap_has_left()
    {
        Admin.Spend = new QuerySpendReply
        {
            Rows = { new SpendRow { KeyId = "refund-agent", RunId = "run_abc", SettledMicroUsd = 9_000_000 } },
            TotalSettledMicroUsd = 9_000_000,
        };
        Admin.Run = new RunSummary
        {
            RunId = "run_abc",
            Keys = { new RunKeySpend { KeyId = "refund-agent", Vendor = "stripe", SettledMicroUsd = 9_000_000, RunCapMicroUsd = 50_000_000, CapIncludesLlm = true } },
            SaasSettledMicroUsd = 9_000_000,
            LlmMicroUsd = 40_000_000,
            LlmCalls = 3,
            LlmModels =
            {
                new LlmModelSpend { Model = "gpt-4o", Provider = "openai", CostMicroUsd = 30_000_000, Calls = 2 },
                new LlmModelSpend { Model = "claude-sonnet-4", Provider = "anthropic", CostMicroUsd = 10_000_000, Calls = 1 },
            },
            TotalMicroUsd = 49_000_000,
        };

        var table = await Run("spend", "--run", "run_abc");
        var json = await Run("spend", "--run", "run_abc", "--json");

        Assert.Multiple(() =>
        {
            Assert.That(table.ExitCode, Is.Zero, table.ToString());
            Assert.That(Admin.Requests.OfType<GetRunRequest>().Select(r => r.RunId), Is.EqualTo(new[] { "run_abc", "run_abc" }));
            Assert.That(table.Out, Does.Contain("Total: $9.00 settled, $0.00 reserved."));
            Assert.That(table.Out, Does.Contain("RUN       SAAS  LLM TOKENS  LLM CALLS   TOTAL"));
            Assert.That(table.Out, Does.Contain("run_abc  $9.00      $40.00          3  $49.00"));
            Assert.That(table.Out, Does.Contain("gpt-4o           openai         2  $30.00"));
            Assert.That(table.Out, Does.Contain("claude-sonnet-4  anthropic      1  $10.00"));
            Assert.That(table.Out, Does.Contain("Run cap of refund-agent: $50.00, counting LLM tokens: $49.00 counted, $1.00 left."));
            Assert.That(json.ExitCode, Is.Zero, json.ToString());
            var reply = json.Json();
            Assert.That(reply.GetProperty("totalSettledMicroUsd").GetString(), Is.EqualTo("9000000"), "the spend reply's fields are kept");
            Assert.That(reply.GetProperty("run").GetProperty("llmMicroUsd").GetString(), Is.EqualTo("40000000"));
            Assert.That(reply.GetProperty("run").GetProperty("llmModels")[1].GetProperty("provider").GetString(), Is.EqualTo("anthropic"));
            Assert.That(reply.GetProperty("run").GetProperty("keys")[0].GetProperty("capIncludesLlm").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task Spend_of_a_run_from_a_service_without_GetRun_still_shows_the_rows_and_says_the_LLM_spend_is_not_shown()
    {
        Admin.Spend = new QuerySpendReply { Rows = { new SpendRow { KeyId = "refund-agent", RunId = "run_abc", SettledMicroUsd = 1_000_000 } }, TotalSettledMicroUsd = 1_000_000 };

        var table = await Run("spend", "--run", "run_abc");
        var json = await Run("spend", "--run", "run_abc", "--json");

        Assert.Multiple(() =>
        {
            Assert.That(table.ExitCode, Is.Zero, table.ToString());
            Assert.That(table.Out, Does.Contain("refund-agent  run_abc    $1.00").And.Contain("LLM spend: not shown (the budget service predates GetRun)."));
            Assert.That(json.ExitCode, Is.Zero, json.ToString());
            Assert.That(json.Json().GetProperty("run").ValueKind, Is.EqualTo(System.Text.Json.JsonValueKind.Null));
        });
    }

    [Test]
    public async Task Reservations_are_listed_and_resolved_by_committing_an_exact_amount_or_releasing()
    {
        Admin.Unsettled = new ListUnsettledReply
        {
            Reservations = { new UnsettledReservation { ReservationId = "res_1", KeyId = "refund-agent", RunId = "run_abc", IdempotencyKey = "idem-1", EstimateMicroUsd = 40_000_000, Day = "2025-06-01", CreatedUnixMicros = 1_748_779_200_000_000 } },
        };

        var list = await Run("reservations", "--key", "refund-agent");
        var commit = await Run("reservations", "resolve", "res_1", "--actual", "12.50");
        var release = await Run("reservations", "resolve", "res_1");
        var unknown = await Run("reservations", "resolve", "res_nope");

        var resolves = Admin.Requests.OfType<ResolveReservationRequest>().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(list.ExitCode, Is.Zero, list.ToString());
            Assert.That(list.Out, Does.Contain("res_1        refund-agent  run_abc  idem-1             $40.00  2025-06-01  2025-06-01 12:00:00"));
            Assert.That(Admin.Only<ListUnsettledRequest>().KeyId, Is.EqualTo("refund-agent"));
            Assert.That(commit.Out, Does.Contain("Committed $12.50 for reservation res_1"));
            Assert.That(resolves[0].ActualMicroUsd, Is.EqualTo(12_500_000));
            Assert.That(release.Out, Does.Contain("Released reservation res_1"));
            Assert.That(resolves[1].HasActualMicroUsd, Is.False, "no --actual releases");
            Assert.That(unknown.ExitCode, Is.EqualTo(1));
            Assert.That(unknown.Error.Trim(), Is.EqualTo("error: no unsettled reservation has id 'res_nope'"));
        });
    }

    [Test]
    public async Task A_wrong_token_exits_3_with_a_message_that_does_not_show_it()
    {
        var wrong = await CliProcess.RunAsync(["keys", "list", "--server", _server.Address.ToString(), "--token", "wrong-token-0123456789"]);
        var none = await CliProcess.RunAsync(["keys", "list", "--server", _server.Address.ToString()]);

        Assert.Multiple(() =>
        {
            Assert.That(wrong.ExitCode, Is.EqualTo(3), wrong.ToString());
            Assert.That(wrong.Error.Trim(), Is.EqualTo("error: the admin token was refused (set --token or KEYBRAKE_ADMIN_TOKEN)"));
            Assert.That(wrong.Out + wrong.Error, Does.Not.Contain("wrong-token"));
            Assert.That(none.ExitCode, Is.EqualTo(3), none.ToString());
            Assert.That(none.Error.Trim(), Is.EqualTo("error: the budget service requires an admin token (set --token or KEYBRAKE_ADMIN_TOKEN)"));
            Assert.That(Admin.AuthorizationHeaders, Is.EqualTo(new[] { "Bearer wrong-token-0123456789", string.Empty }));
        });
    }

    [Test]
    public async Task The_token_is_read_from_data_admin_token_under_the_current_directory_when_nothing_else_gives_one()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-cli-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, "data"));
            await File.WriteAllTextAsync(Path.Combine(directory, "data", "admin-token"), FakeBudgetAdmin.Token + "\n");

            var result = await CliProcess.RunAsync(["keys", "list", "--server", _server.Address.ToString()], workingDirectory: directory);

            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(Admin.AuthorizationHeaders, Is.EqualTo(new[] { "Bearer " + FakeBudgetAdmin.Token }));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task An_unreachable_server_exits_4_naming_the_address()
    {
        var port = FreePort();
        var result = await CliProcess.RunAsync(["keys", "list", "--server", $"http://127.0.0.1:{port}", "--token", FakeBudgetAdmin.Token]);

        Assert.That(result.ExitCode, Is.EqualTo(4), result.ToString());
        Assert.That(result.Error, Does.StartWith($"error: cannot reach the budget service at http://127.0.0.1:{port} ("));
    }

    [Test]
    public async Task An_unknown_key_exits_1_with_the_services_message()
    {
        var result = await Run("keys", "show", "nope");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Error.Trim(), Is.EqualTo("error: no key has id 'nope'"));
    }

    private static readonly TestCaseData[] s_badInput =
    [
        new TestCaseData(new[] { "keys", "create", "a", "--vendor", "stripe", "--daily-cap", "12.3456789" }, "--daily-cap: '12.3456789' has more than six digits after the point").SetName("Too many decimals"),
        new TestCaseData(new[] { "keys", "create", "a", "--vendor", "stripe", "--daily-cap", "-5" }, "--daily-cap: '-5' is negative").SetName("A negative cap"),
        new TestCaseData(new[] { "keys", "create", "a", "--vendor", "stripe", "--daily-cap", "ten" }, "--daily-cap: 'ten' is not an amount in dollars").SetName("A cap that is not a number"),
        new TestCaseData(new[] { "keys", "create", "a", "--vendor", "paypal" }, "Argument 'paypal' not recognized").SetName("An unknown vendor"),
        new TestCaseData(new[] { "keys", "update", "a" }, "nothing to change").SetName("An update that changes nothing"),
        new TestCaseData(new[] { "reservations", "resolve", "res_1", "--actual", "1.5.0" }, "--actual: '1.5.0' is not an amount in dollars").SetName("A bad actual amount"),
        new TestCaseData(new[] { "audit", "--from", "yesterday" }, "--from: 'yesterday' is not a time").SetName("A bad time"),
        new TestCaseData(new[] { "audit", "--format", "csv", "--json" }, "--format exports every matching record").SetName("An export with --json"),
        new TestCaseData(new[] { "spend", "--by", "run,day" }, "run cannot be combined with day").SetName("Spend by run and day"),
        new TestCaseData(new[] { "keys", "frobnicate" }, "Unrecognized command or argument 'frobnicate'").SetName("An unknown command"),
        new TestCaseData(new[] { "keys", "create", "a", "--vendor", "twilio", "--vendor-limit", "max_widgets=3" }, "--vendor-limit: 'max_widgets' is not a limit any vendor knows").SetName("An unknown vendor limit"),
        new TestCaseData(new[] { "keys", "create", "a", "--daily-cap", "ten", "--rpm", "0" }, "--daily-cap: 'ten' is not an amount in dollars").SetName("Several problems at once"),
    ];

    [TestCaseSource(nameof(s_badInput))]
    public async Task Bad_input_exits_2_with_a_clear_message_and_sends_nothing(string[] args, string message)
    {
        var result = await Run(args);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Error, Does.StartWith("error: ").And.Contain(message));
            Assert.That(result.Error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line, as docs/cli.md says");
            Assert.That(result.Out, Is.Empty);
            Assert.That(Admin.AuthorizationHeaders, Is.Empty, "nothing reached the service");
        });
    }

    [Test]
    public async Task An_unknown_field_in_the_policy_file_exits_2_naming_it_and_sends_nothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"keybrake-policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{ "dailyCapMicroUsd": "1000000", "dailyCapUsd": 100 }""");
        try
        {
            var result = await Run("keys", "create", "a", "--vendor", "stripe", "--policy-file", file);

            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Error, Does.StartWith($"error: --policy-file {file} is not a valid policy").And.Contain("dailyCapUsd"));
            Assert.That(Admin.AuthorizationHeaders, Is.Empty);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task The_help_documents_every_command_the_exit_codes_and_examples()
    {
        var root = await CliProcess.RunAsync("--help");
        var create = await CliProcess.RunAsync("keys", "create", "--help");

        Assert.Multiple(() =>
        {
            Assert.That(root.ExitCode, Is.Zero);
            Assert.That(root.Out, Does.Contain("Usage:\n  keybrake [command] [options]"));
            foreach (var command in new[] { "keys", "spend", "audit", "reservations", "--server", "--token", "--json", "KEYBRAKE_SERVER", "KEYBRAKE_ADMIN_TOKEN", "data/admin-token" })
            {
                Assert.That(root.Out, Does.Contain(command));
            }

            Assert.That(root.Out, Does.Contain("Exit codes:").And.Contain("3  the admin token is missing or was refused").And.Contain("Examples:"));
            Assert.That(create.ExitCode, Is.Zero);
            Assert.That(create.Out, Does.Contain("keybrake keys create <key-id> [options]").And.Contain("--daily-cap <usd>").And.Contain("Examples:\n  keybrake keys create refund-agent"));
        });
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
