using System.CommandLine;
using Keybrake.Cli.Policies;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests;

public sealed class PolicyOptionsTests
{
    private readonly PolicyOptions _options = new();
    private Command _command = null!;

    [SetUp]
    public void CreateCommand()
    {
        _command = new Command("update") { new Argument<string>("key-id") };
        _options.AddTo(_command);
    }

    [Test]
    public void Every_option_sets_its_field_in_micro_usd_and_whole_numbers()
    {
        var policy = Build(null,
            "--daily-cap", "100", "--run-cap", "25.50", "--per-request-max", "0.0075", "--time-zone", "America/New_York",
            "--allow", "POST /v1/refunds", "--allow", "GET /v1/charges/*", "--deny", "* /v1/payouts/**",
            "--scope", "customers=cus_1, cus_2", "--scope", "accounts=acct_1", "--vendor-limit", "max_segments=3",
            "--rpm", "60", "--reads-during-outage", "deny", "--unknown-objects", "reserve_per_request_max", "--loop-max-repeats", "0", "--loop-window", "30");

        var expected = new Policy
        {
            DailyCapMicroUsd = 100_000_000,
            RunCapMicroUsd = 25_500_000,
            PerRequestMaxMicroUsd = 7_500,
            TimeZone = "America/New_York",
            AllowEndpoints = { "POST /v1/refunds", "GET /v1/charges/*" },
            DenyEndpoints = { "* /v1/payouts/**" },
            Scope = { ["customers"] = new StringList { Values = { "cus_1", "cus_2" } }, ["accounts"] = new StringList { Values = { "acct_1" } } },
            Limits = { ["maxSegments"] = 3 },
            RequestsPerMinute = 60,
            ReadsDuringOutage = "deny",
            UnknownObjects = "reserve_per_request_max",
            LoopBreakerMaxRepeats = 0,
            LoopBreakerWindowSeconds = 30,
        };
        Assert.That(policy, Is.EqualTo(expected));
    }

    [Test]
    public void Options_change_only_their_fields_of_the_current_policy_and_none_removes_a_limit()
    {
        var current = new Policy
        {
            DailyCapMicroUsd = 100_000_000,
            RunCapMicroUsd = 25_000_000,
            RequestsPerMinute = 10,
            TimeZone = "Europe/Paris",
            AllowEndpoints = { "POST /v1/refunds" },
            DenyEndpoints = { "POST /v1/payouts" },
            Scope = { ["customers"] = new StringList { Values = { "cus_1" } }, ["accounts"] = new StringList { Values = { "acct_1" } } },
            Limits = { ["maxSegments"] = 3 },
        };

        var policy = Build(current, "--daily-cap", "250", "--run-cap", "none", "--rpm", "none", "--time-zone", "UTC", "--deny", "none", "--scope", "accounts=", "--vendor-limit", "max_segments=");

        Assert.Multiple(() =>
        {
            Assert.That(policy.DailyCapMicroUsd, Is.EqualTo(250_000_000));
            Assert.That(policy.HasRunCapMicroUsd, Is.False);
            Assert.That(policy.HasRequestsPerMinute, Is.False);
            Assert.That(policy.TimeZone, Is.Empty, "UTC is the empty zone");
            Assert.That(policy.AllowEndpoints, Is.EqualTo(new[] { "POST /v1/refunds" }), "kept");
            Assert.That(policy.DenyEndpoints, Is.Empty);
            Assert.That(policy.Scope.Keys, Is.EqualTo(new[] { "customers" }));
            Assert.That(policy.Limits, Is.Empty);
            Assert.That(current.HasRunCapMicroUsd, Is.True, "the current policy itself is left alone");
        });
    }

    [Test]
    public void The_policy_file_replaces_the_current_policy_and_options_override_its_fields()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "dailyCapMicroUsd": "5000000", "run_cap_micro_usd": 2000000, "allowEndpoints": ["POST /v1/charges"] }""");
            var policy = Build(new Policy { RequestsPerMinute = 10 }, "--policy-file", file, "--daily-cap", "7");

            Assert.That(policy, Is.EqualTo(new Policy { DailyCapMicroUsd = 7_000_000, RunCapMicroUsd = 2_000_000, AllowEndpoints = { "POST /v1/charges" } }));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void The_policy_file_shown_in_the_docs_parses()
    {
        var policy = PolicyOptions.Parse(
            """
            {
              "dailyCapMicroUsd": "100000000",
              "runCapMicroUsd": "25000000",
              "perRequestMaxMicroUsd": "50000000",
              "timeZone": "America/New_York",
              "allowEndpoints": ["POST /v1/refunds", "GET /v1/**"],
              "denyEndpoints": ["* /v1/payouts/**"],
              "scope": { "customers": { "values": ["cus_QXg1o8vcGmoR32"] } },
              "requestsPerMinute": 60,
              "lease": { "enabled": true, "maxSliceMicroUsd": "2000000", "ttlMilliseconds": "30000" },
              "runCapIncludes": ["llm"]
            }
            """,
            "docs/cli.md");

        Assert.Multiple(() =>
        {
            Assert.That(policy.DailyCapMicroUsd, Is.EqualTo(100_000_000));
            Assert.That(policy.Scope["customers"].Values, Is.EqualTo(new[] { "cus_QXg1o8vcGmoR32" }));
            Assert.That(policy.RequestsPerMinute, Is.EqualTo(60));
            Assert.That(policy.Lease.MaxSliceMicroUsd, Is.EqualTo(2_000_000));
            Assert.That(policy.RunCapIncludes, Is.EqualTo(new[] { "llm" }));
        });
    }

    [TestCase("""{ "dailyCap": "100" }""", "dailyCap")]
    [TestCase("""{ "dailyCapMicroUsd": "a lot" }""", "")]
    [TestCase("""{ "allowEndpoints": "POST /v1/refunds" }""", "")]
    [TestCase("""{ "dailyCapMicroUsd": 1 """, "")]
    public void A_policy_that_is_not_valid_json_for_the_policy_shape_is_a_usage_error(string json, string field)
    {
        var failure = Assert.Throws<UsageException>(() => PolicyOptions.Parse(json, "--policy-file p.json"));
        Assert.That(failure!.Message, Does.StartWith("--policy-file p.json is not a valid policy: ").And.Contain(field));
    }

    [TestCase("--daily-cap", "-1", "--daily-cap: '-1' is negative")]
    [TestCase("--daily-cap", "none", "--daily-cap: 'none' is not an amount in dollars")]
    [TestCase("--run-cap", "1.0000001", "--run-cap: '1.0000001' has more than six digits after the point")]
    [TestCase("--allow", "/v1/refunds", "--allow: '/v1/refunds' is not an endpoint rule")]
    [TestCase("--scope", "customers", "--scope: 'customers' is not name=value")]
    [TestCase("--vendor-limit", "max_segments=three", "--vendor-limit maxSegments: 'three' is not a whole number")]
    [TestCase("--vendor-limit", "max_widgets=3", "--vendor-limit: 'max_widgets' is not a limit any vendor knows (resend: maxRecipientsPerEmail, maxRecipientsPerRequest; twilio: maxSegments)")]
    [TestCase("--scope", "customer=cus_1", "--scope: 'customer' is not an allowlist any vendor knows (resend: recipientDomains; stripe: customers, accounts; twilio: destinations, senders)")]
    [TestCase("--rpm", "0", "--rpm: '0' is not a whole number of 1 or more")]
    [TestCase("--loop-window", "0", "--loop-window: '0' is not a whole number of 1 or more")]
    [TestCase("--reads-during-outage", "maybe", "maybe")]
    [TestCase("--unknown-objects", "guess", "guess")]
    public void Bad_option_values_are_parse_errors_that_name_the_option(string option, string value, string message)
    {
        var parse = _command.Parse(["agent", option, value]);
        Assert.That(parse.Errors.Select(e => e.Message), Has.Some.Contains(message));
    }

    [Test]
    public void The_lease_options_set_the_lease_policy_and_the_run_cap_includes()
    {
        var policy = Build(null, "--daily-cap", "100", "--lease", "on", "--lease-max-slice", "2.50", "--lease-ttl", "45", "--run-cap-includes", "LLM");

        Assert.That(policy, Is.EqualTo(new Policy
        {
            DailyCapMicroUsd = 100_000_000,
            Lease = new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 2_500_000, TtlMilliseconds = 45_000 },
            RunCapIncludes = { "llm" },
        }));
    }

    [Test]
    public void Lease_options_change_only_their_fields_and_auto_with_none_leaves_no_lease_policy()
    {
        var current = new Policy { DailyCapMicroUsd = 100_000_000, Lease = new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 1_000_000, TtlMilliseconds = 10_000 }, RunCapIncludes = { "llm" } };

        var off = Build(current, "--lease", "off");
        var cleared = Build(current, "--lease", "auto", "--lease-max-slice", "none", "--lease-ttl", "none", "--run-cap-includes", "none");

        Assert.Multiple(() =>
        {
            Assert.That(off.Lease, Is.EqualTo(new LeasePolicy { Enabled = false, MaxSliceMicroUsd = 1_000_000, TtlMilliseconds = 10_000 }), "the other lease fields are kept");
            Assert.That(off.RunCapIncludes, Is.EqualTo(new[] { "llm" }), "kept");
            Assert.That(cleared.Lease, Is.Null, "automatic with the defaults: no lease policy at all");
            Assert.That(cleared.RunCapIncludes, Is.Empty);
            Assert.That(current.Lease.Enabled, Is.True, "the current policy itself is left alone");
        });
    }

    [Test]
    public void A_policy_file_with_a_lease_and_run_cap_includes_parses()
    {
        var policy = PolicyOptions.Parse(
            """{ "dailyCapMicroUsd": "100000000", "lease": { "enabled": true, "maxSliceMicroUsd": "2000000", "ttlMilliseconds": "30000" }, "runCapIncludes": ["llm"] }""",
            "docs/cli.md");

        Assert.That((policy.Lease.Enabled, policy.Lease.MaxSliceMicroUsd, policy.Lease.TtlMilliseconds, policy.RunCapIncludes.Single()), Is.EqualTo((true, 2_000_000L, 30_000L, "llm")));
    }

    [TestCase("--lease", "maybe", "maybe")]
    [TestCase("--lease-max-slice", "0", "--lease-max-slice: a slice must be more than $0")]
    [TestCase("--lease-max-slice", "-1", "--lease-max-slice: '-1' is negative")]
    [TestCase("--lease-ttl", "0", "--lease-ttl: '0' is not a whole number of 1 or more")]
    [TestCase("--lease-ttl", "3601", "--lease-ttl: '3601' is more than 3600 seconds")]
    [TestCase("--lease-ttl", "1.5", "--lease-ttl: '1.5' is not a whole number of 1 or more")]
    [TestCase("--run-cap-includes", "tokens", "--run-cap-includes: 'tokens' is not something a run cap can include: write llm, or none")]
    public void Bad_lease_values_are_parse_errors_that_name_the_option(string option, string value, string message)
    {
        var parse = _command.Parse(["agent", option, value]);
        Assert.That(parse.Errors.Select(e => e.Message), Has.Some.Contains(message));
    }

    [Test]
    public void Keys_show_says_how_the_key_leases_and_what_its_run_cap_counts()
    {
        string Leases(Policy policy) => Keybrake.Cli.Commands.KeysCommands.Describe(new KeyInfo { KeyId = "agent", Policy = policy }).Single(pair => pair.Item1 == "Leases").Item2;
        string Includes(Policy policy) => Keybrake.Cli.Commands.KeysCommands.Describe(new KeyInfo { KeyId = "agent", Policy = policy }).Single(pair => pair.Item1 == "Run cap includes").Item2;

        Assert.Multiple(() =>
        {
            Assert.That(Leases(new Policy { DailyCapMicroUsd = 100_000_000 }), Is.EqualTo("automatic (once a process's calls on the key come fast enough), slices of at most $2.00 (2% of the daily cap) lasting 30 s"));
            Assert.That(Leases(new Policy { DailyCapMicroUsd = 100_000_000, Lease = new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 500_000, TtlMilliseconds = 90_000 } }), Is.EqualTo("on, slices of at most $0.50 lasting 90 s"));
            Assert.That(Leases(new Policy { DailyCapMicroUsd = 100_000_000, Lease = new LeasePolicy { Enabled = false } }), Is.EqualTo("off (every money call asks the service)"));
            Assert.That(Includes(new Policy { RunCapIncludes = { "llm" } }), Is.EqualTo("the key's calls and the run's LLM spend"));
            Assert.That(Includes(new Policy()), Is.EqualTo("the key's calls only"));
        });
    }

    [TestCase("max_segments", "maxSegments")]
    [TestCase("maxSegments", "maxSegments")]
    [TestCase("MAX-SEGMENTS", "maxSegments")]
    [TestCase("max_recipients_per_email", "maxRecipientsPerEmail")]
    public void A_limit_in_snake_case_or_the_service_s_spelling_is_sent_in_the_service_s(string written, string sent)
    {
        var policy = Build(null, "--vendor-limit", $"{written}=3", "--scope", "recipient_domains=example.com");

        Assert.Multiple(() =>
        {
            Assert.That(policy.Limits.Keys, Is.EqualTo(new[] { sent }));
            Assert.That(policy.Scope.Keys, Is.EqualTo(new[] { "recipientDomains" }));
        });
    }

    [Test]
    public void The_vendors_are_the_ones_the_service_knows()
    {
        Assert.That(VendorNames.Vendors, Is.EquivalentTo(KnownVendor.All.Select(v => v.Name)).And.EquivalentTo(new[] { "stripe", "twilio", "resend" }));
    }

    [Test]
    public void No_policy_option_means_nothing_to_change()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_options.AnyGiven(_command.Parse(["agent"])), Is.False);
            Assert.That(_options.AnyGiven(_command.Parse(["agent", "--rpm", "5"])), Is.True);
        });
    }

    private Policy Build(Policy? current, params string[] args)
    {
        var parse = _command.Parse(["agent", .. args]);
        Assert.That(parse.Errors, Is.Empty, string.Join("; ", parse.Errors.Select(e => e.Message)));
        return _options.Build(parse, current);
    }
}
