using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Keys and their policies through the gRPC admin API: created, read, changed, revoked and restored.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class KeyAdminTests(StoreEngine engine)
{
    private static Policy Capped(decimal dollars) => new() { DailyCapMicroUsd = Dollars(dollars), DenyEndpoints = { "POST /v1/payouts/**" } };

    [Test]
    public async Task A_created_key_gets_its_brake_key_once_and_the_service_enforces_its_cap()
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());

        var created = await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "refunds-7", Vendor = "Stripe", Policy = Capped(50) });
        var shown = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "refunds-7" });
        var first = await service.Budget.AuthorizeAsync(Authorize("refunds-7", 40));
        var second = await service.Budget.AuthorizeAsync(Authorize("refunds-7", 20));

        Assert.Multiple(() =>
        {
            Assert.That(created.BrakeKey, Does.Match("^vault_key_[A-Za-z0-9]{32}$"));
            Assert.That(created.Key.Vendor, Is.EqualTo("stripe"));
            Assert.That(created.Key.PolicyVersion, Is.EqualTo(1));
            Assert.That(created.Key.BrakeKeyIssued, Is.True);
            Assert.That(shown.Policy, Is.EqualTo(new Policy(Capped(50)) { ReadsDuringOutage = "allow" }), "as written, with the outage behaviour in force spelt out");
            Assert.That(shown.ToString(), Does.Not.Contain(created.BrakeKey), "the brake key is shown once, at creation");
            Assert.That(first.Allowed, Is.True);
            Assert.That(second.Reason, Is.EqualTo("daily_cap_exceeded"));
        });
    }

    [TestCase("", "allow")]
    [TestCase("DENY", "deny")]
    public async Task A_policy_shows_the_outage_behaviour_in_force_however_it_was_written(string written, string shown)
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k1", Vendor = "stripe", Policy = new Policy(Capped(5)) { ReadsDuringOutage = written } });

        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "k1" });
        var listed = await service.Admin.ListKeysAsync(new ListKeysRequest());
        var policy = await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "k1" });

        Assert.Multiple(() =>
        {
            Assert.That(key.Policy.ReadsDuringOutage, Is.EqualTo(shown));
            Assert.That(listed.Keys.Single(k => k.KeyId == "k1").Policy.ReadsDuringOutage, Is.EqualTo(shown));
            Assert.That(policy.Policy.ReadsDuringOutage, Is.EqualTo(shown));
        });
    }

    [Test]
    public async Task The_fallback_for_objects_a_lookup_cannot_find_is_kept_and_sent_to_clients()
    {
        await using var service = await TestService.StartAsync(new Dictionary<string, string?>());
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k1", Vendor = "stripe", Policy = new Policy(Capped(5)) { UnknownObjects = "reserve_per_request_max" } });
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k2", Vendor = "stripe", Policy = Capped(5) });

        var opted = await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "k1" });
        var unset = await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "k2" });

        Assert.Multiple(() =>
        {
            Assert.That(opted.Policy.UnknownObjects, Is.EqualTo("reserve_per_request_max"));
            Assert.That(unset.Policy.UnknownObjects, Is.Empty, "not set: the clients deny");
        });
    }

    [Test]
    public async Task The_policy_reply_carries_the_brake_key_hash_so_clients_can_check_theirs()
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());
        var created = await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k1", Vendor = "stripe", Policy = Capped(5) });

        var policy = await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "k1" });

        Assert.That(
            policy.BrakeKeySha256.ToByteArray(),
            Is.EqualTo(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(created.BrakeKey))));
    }

    [Test]
    public async Task Creating_a_key_whose_id_is_taken_fails_and_keeps_the_first()
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k1", Vendor = "stripe", Policy = Capped(5) });

        var again = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "k1", Vendor = "stripe", Policy = Capped(500) }));
        var kept = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "k1" });

        Assert.Multiple(() =>
        {
            Assert.That(again!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
            Assert.That(kept.Policy.DailyCapMicroUsd, Is.EqualTo(Dollars(5)));
        });
    }

    [Test]
    public async Task Listing_shows_configured_and_created_keys_with_their_state_and_filters_by_vendor()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("from-config", "100"));
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "created", Vendor = "stripe", Policy = Capped(5) });
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "created" });

        var all = await service.Admin.ListKeysAsync(new ListKeysRequest());
        var none = await service.Admin.ListKeysAsync(new ListKeysRequest { Vendor = "twilio" });

        Assert.Multiple(() =>
        {
            // The service's own appsettings.json (copied next to the tests) adds its sample key: listed too.
            Assert.That(all.Keys.Select(k => (k.KeyId, k.Revoked, k.BrakeKeyIssued)), Is.SupersetOf(new[] { ("created", true, true), ("from-config", false, false) }));
            Assert.That(all.Keys.Select(k => k.KeyId), Is.Ordered);
            Assert.That(none.Keys, Is.Empty);
        });
    }

    [Test]
    public async Task An_updated_policy_applies_to_the_next_authorization_and_bumps_the_version()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var before = await service.Budget.AuthorizeAsync(Authorize("agent", 30));

        var updated = await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = Capped(40) });
        var after = await service.Budget.AuthorizeAsync(Authorize("agent", 30));
        var policy = await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That(before.Allowed, Is.True);
            Assert.That(after.Reason, Is.EqualTo("daily_cap_exceeded"), "30 counted, 30 more would pass the new 40 cap");
            Assert.That(updated.PolicyVersion, Is.EqualTo(2));
            Assert.That(policy.Version, Is.EqualTo(2));
            Assert.That(policy.Policy.DenyEndpoints, Is.EqualTo(new[] { "POST /v1/payouts/**" }));
        });
    }

    [Test]
    public async Task An_operator_s_change_to_a_configured_key_survives_a_restart_with_the_old_configuration()
    {
        var settings = BudgetServiceHost.Key("agent", "100");
        await using var first = await TestService.StartAsync(engine, settings);
        await first.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = Capped(7) });
        await first.StopAsync();

        await using var second = await TestService.StartAsync(engine, settings, postgres: first.Postgres, directory: first.Host.Directory);
        var key = await second.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        Assert.That(key.Policy.DailyCapMicroUsd, Is.EqualTo(Dollars(7)));
    }

    [Test]
    public async Task Revoke_and_restore_reply_with_the_key_and_act_on_the_money_path()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var revoked = await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 1));
        var restored = await service.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var allowed = await service.Budget.AuthorizeAsync(Authorize("agent", 1));

        Assert.Multiple(() =>
        {
            Assert.That(revoked.Revoked, Is.True);
            Assert.That(denied.Reason, Is.EqualTo("key_revoked"));
            Assert.That(restored.Revoked, Is.False);
            Assert.That(allowed.Allowed, Is.True);
        });
    }

    private static readonly TestCaseData[] s_invalidPolicies =
    [
        new TestCaseData(new Policy(), "policy.daily_cap_micro_usd is required").SetName("No daily cap"),
        new TestCaseData(new Policy { DailyCapMicroUsd = -1 }, "policy.daily_cap_micro_usd must be between 0 and").SetName("A negative daily cap"),
        new TestCaseData(new Policy { DailyCapMicroUsd = long.MaxValue }, "policy.daily_cap_micro_usd must be between 0 and").SetName("An absurd daily cap"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, RunCapMicroUsd = -5 }, "policy.run_cap_micro_usd").SetName("A negative run cap"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, TimeZone = "Mars/Olympus" }, "policy.time_zone 'Mars/Olympus'").SetName("An unknown time zone"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, AllowEndpoints = { "POST" } }, "policy.allow_endpoints.0").SetName("An endpoint rule without a path"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, Scope = { ["cards"] = new StringList { Values = { "x" } } } }, "policy.scope.cards is not an allowlist this vendor knows (it knows: customers, accounts)").SetName("An allowlist the vendor does not have"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, Scope = { ["customers"] = new StringList { Values = { "" } } } }, "policy.scope.customers has an empty value").SetName("An empty allowlist entry"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, Limits = { ["maxSegments"] = 3 } }, "policy.limits.maxSegments is not a limit this vendor knows").SetName("A limit the vendor does not have"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, RequestsPerMinute = 0 }, "policy.requests_per_minute must be between 1 and 1000000").SetName("A zero rate limit"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, ReadsDuringOutage = "maybe" }, "policy.reads_during_outage must be \"allow\" or \"deny\"").SetName("An unknown outage behaviour"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, UnknownObjects = "guess" }, "policy.unknown_objects must be \"deny\" or \"reserve_per_request_max\"").SetName("An unknown fallback for unknown objects"),
        new TestCaseData(new Policy { DailyCapMicroUsd = 1, LoopBreakerWindowSeconds = 0 }, "policy.loop_breaker_window_seconds must be between 1 and 86400").SetName("A zero loop-breaker window"),
    ];

    [TestCaseSource(nameof(s_invalidPolicies))]
    public async Task An_invalid_policy_is_refused_with_a_message_naming_the_field_and_changes_nothing(Policy policy, string expected)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var create = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "new", Vendor = "stripe", Policy = policy }));
        var update = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = policy }));
        var keys = await service.Admin.ListKeysAsync(new ListKeysRequest());
        var agent = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That(create!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(create.Status.Detail, Does.Contain(expected));
            Assert.That(update!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(update.Status.Detail, Does.Contain(expected));
            Assert.That(keys.Keys.Select(k => k.KeyId), Does.Not.Contain("new"), "nothing was created");
            Assert.That(agent.PolicyVersion, Is.EqualTo(1), "nothing was changed");
        });
    }

    private static readonly TestCaseData[] s_badKeys =
    [
        new TestCaseData("", "stripe", "key_id is required").SetName("No key id"),
        new TestCaseData("has space", "stripe", "key_id 'has space' must be 1 to 64 characters of A-Z").SetName("A key id with a space"),
        new TestCaseData(new string('k', 65), "stripe", "must be 1 to 64 characters").SetName("A key id too long"),
        new TestCaseData("k1", "paypal", "vendor 'paypal' is not one the service knows").SetName("An unknown vendor"),
    ];

    [TestCaseSource(nameof(s_badKeys))]
    public async Task A_bad_key_id_or_vendor_is_refused(string keyId, string vendor, string expected)
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());

        var failure = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = keyId, Vendor = vendor, Policy = Capped(5) }));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(failure.Status.Detail, Does.Contain(expected));
        });
    }

    [Test]
    public async Task Operations_on_an_unknown_key_fail_NotFound()
    {
        await using var service = await TestService.StartAsync(engine, new Dictionary<string, string?>());

        var failures = new[]
        {
            Assert.ThrowsAsync<RpcException>(async () => await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "nobody" })),
            Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "nobody", Policy = Capped(1) })),
            Assert.ThrowsAsync<RpcException>(async () => await service.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "nobody" })),
            Assert.ThrowsAsync<RpcException>(async () => await service.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "nobody" })),
        };

        Assert.That(failures.Select(f => f!.StatusCode), Is.All.EqualTo(StatusCode.NotFound));
    }
}
