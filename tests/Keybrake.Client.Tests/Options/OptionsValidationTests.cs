using Keybrake.Client.Central;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

public sealed class OptionsValidationTests
{
    private const string Field = "Keybrake:Keys:agent";

    public static IEnumerable<TestCaseData> BrokenKeys()
    {
        yield return Case("A brake key without the vault_key_ prefix", k => k.BrakeKey = "not_a_brake_key_0000000000", $"{Field}:BrakeKey must start with 'vault_key_' followed by at least 16 characters");
        yield return Case("A brake key with 15 characters after the prefix", k => k.BrakeKey = "vault_key_" + new string('0', 15), $"{Field}:BrakeKey must start with 'vault_key_'");
        yield return Case("A vendor secret that is itself a brake key", k => k.VendorSecret = "vault_key_0000000000000000000", $"{Field}:VendorSecret is a brake key");
        yield return Case("A vendor with no package registered", k => k.Vendor = "nosuchvendor", $"{Field}:Vendor 'nosuchvendor' has no vendor package registered (registered: testvendor)");
        yield return Case("A scope name the vendor does not know", k => k.Policy.Allow("customers", "cus_1"), $"{Field}:Policy:Scope:customers is not an allowlist testvendor knows (it knows: recipients)");
        yield return Case("A scope with an empty value", k => k.Policy.Allow(TestVendorProfile.RecipientsScope, "r_1", " "), $"{Field}:Policy:Scope:recipients has an empty value");
        yield return Case("A limit name the vendor does not know", k => k.Policy.Limits["maxWidgets"] = 1, $"{Field}:Policy:Limits:maxWidgets is not a limit testvendor knows (it knows: maxItems)");
        yield return Case("A negative limit", k => k.Policy.Limits[TestVendorProfile.MaxItemsLimit] = -1, $"{Field}:Policy:Limits:maxItems is negative");
        yield return Case("No daily cap", k => k.Policy.DailyCap = null, $"{Field}:Policy:DailyCap is required");
        yield return Case("A negative daily cap", k => k.Policy.DailyCap = Usd.FromMicros(-1), $"{Field}:Policy:DailyCap must be between $0 and");
        yield return Case("A run cap over the maximum", k => k.Policy.RunCap = Usd.MaxValue + Usd.FromMicros(1), $"{Field}:Policy:RunCap must be between $0 and");
        yield return Case("A time zone nobody knows", k => k.Policy.TimeZone = "Mars/Olympus_Mons", $"{Field}:Policy:TimeZone 'Mars/Olympus_Mons' is not an IANA time zone");
        yield return Case("A Windows time zone name", k => k.Policy.TimeZone = "Eastern Standard Time", $"{Field}:Policy:TimeZone 'Eastern Standard Time' is not an IANA time zone");
        yield return Case("An allow rule without a leading slash", k => k.Policy.Endpoints.Allow.Add("POST v1/spend"), $"{Field}:Policy:Endpoints:Allow:0: endpoint rule 'POST v1/spend' has a path that does not start with '/'");
        yield return Case("A deny rule with a partial wildcard", k => { k.Policy.Endpoints.Deny.Add("GET /v1/items"); k.Policy.Endpoints.Deny.Add("POST /v1/pay*"); }, $"{Field}:Policy:Endpoints:Deny:1: endpoint rule 'POST /v1/pay*' has segment 'pay*'");
        yield return Case("A rate limit of zero", k => k.Policy.RequestsPerMinute = 0, $"{Field}:Policy:RequestsPerMinute: must be between 1 and 1000000");
        yield return Case("A loop window of zero", k => k.Policy.LoopBreaker.Window = TimeSpan.Zero, $"{Field}:Policy:LoopBreaker:Window: must be between");
        yield return Case("A negative loop repeat count", k => k.Policy.LoopBreaker.MaxRepeats = -1, $"{Field}:Policy:LoopBreaker:MaxRepeats: must be between 0 and 100000");
        yield return Case("An empty brake key", k => k.BrakeKey = string.Empty, $"{Field}:BrakeKey: a value is required");
        yield return Case("An empty vendor secret", k => k.VendorSecret = string.Empty, $"{Field}:VendorSecret: a value is required");
        yield return Case("An empty vendor", k => k.Vendor = string.Empty, $"{Field}:Vendor: a value is required");
        yield return Case("A vendor endpoint that is not an address", k => k.VendorEndpoint = "127.0.0.1:5080", $"{Field}:VendorEndpoint must be an absolute http or https address");
        yield return Case("A vendor endpoint on another scheme", k => k.VendorEndpoint = "ftp://127.0.0.1:5080", $"{Field}:VendorEndpoint must be an absolute http or https address");
        yield return Case("A vendor endpoint with a path", k => k.VendorEndpoint = "http://127.0.0.1:5080/v1", $"{Field}:VendorEndpoint names a scheme, host and port only");
        yield return Case("A vendor endpoint with a user", k => k.VendorEndpoint = "http://user:pass@127.0.0.1:5080", $"{Field}:VendorEndpoint names a scheme, host and port only");
    }

    [Test]
    public void A_well_formed_key_passes_validation()
    {
        using var provider = Build(o => o.AddKey("agent", ValidKey));

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.That(options.Keys, Contains.Key("agent"));
    }

    [TestCaseSource(nameof(BrokenKeys))]
    public void An_invalid_key_fails_with_a_message_that_names_the_field(Action<KeybrakeKeyOptions> breakIt, string expected)
    {
        var error = Validate(o => o.AddKey("agent", key => { ValidKey(key); breakIt(key); }));

        Assert.That(error.Failures, Has.Some.Contains(expected), error.Message);
    }

    [Test]
    public void Two_keys_with_the_same_brake_key_fail_naming_both()
    {
        var error = Validate(o => o
            .AddKey("first", ValidKey)
            .AddKey("second", ValidKey));

        Assert.That(error.Message, Does.Contain("Keybrake:Keys:second:BrakeKey is the same as key 'first''s"));
    }

    [TestCase("bad key!")]
    [TestCase("schlüssel")]
    [TestCase("a/b")]
    public void A_key_id_with_characters_other_than_letters_digits_dot_underscore_and_dash_fails(string keyId)
    {
        var error = Validate(o => o.AddKey(keyId, ValidKey));

        Assert.That(error.Message, Does.Contain($"Keybrake:Keys:{keyId}: a key id has 1 to 64 letters, digits, '.', '_' or '-'"));
    }

    [Test]
    public void A_key_id_longer_than_64_characters_fails()
    {
        var keyId = new string('k', 65);

        var error = Validate(o => o.AddKey(keyId, ValidKey));

        Assert.That(error.Message, Does.Contain($"Keybrake:Keys:{keyId}: a key id has 1 to 64"));
    }

    [TestCase(1023, "MaxRequestBodyBytes")]
    [TestCase(64 * 1024 * 1024 + 1, "MaxRequestBodyBytes")]
    public void A_request_body_limit_out_of_range_fails_naming_it(int bytes, string expected)
    {
        var error = Validate(o => { o.AddKey("agent", ValidKey); o.MaxRequestBodyBytes = bytes; });

        Assert.That(error.Message, Does.Contain(expected));
    }

    [TestCase(0)]
    [TestCase(120_000)]
    public void A_lookup_timeout_out_of_range_fails_naming_it(int milliseconds)
    {
        var error = Validate(o => { o.AddKey("agent", ValidKey); o.LookupTimeout = TimeSpan.FromMilliseconds(milliseconds); });

        Assert.That(error.Message, Does.Contain("Keybrake:LookupTimeout"));
    }

    [Test]
    public void A_response_body_limit_out_of_range_fails_naming_it()
    {
        var error = Validate(o => { o.AddKey("agent", ValidKey); o.MaxResponseBodyBytes = 10; });

        Assert.That(error.Failures, Has.Some.StartsWith("Keybrake:MaxResponseBodyBytes: must be between 1024 and 67108864"), error.Message);
    }

    [Test]
    public void Annotation_failures_name_the_configuration_path_with_colons_never_the_property_path()
    {
        var error = Validate(o => o.AddKey("refund-agent", key => { ValidKey(key); key.VendorSecret = string.Empty; key.Policy.RequestsPerMinute = 0; }));

        Assert.Multiple(() =>
        {
            Assert.That(error.Failures, Does.Contain("Keybrake:Keys:refund-agent:VendorSecret: a value is required"));
            Assert.That(error.Failures, Does.Contain("Keybrake:Keys:refund-agent:Policy:RequestsPerMinute: must be between 1 and 1000000"));
            Assert.That(error.Message, Does.Not.Contain("refund-agent.").And.Not.Contain("The "), "no dotted property path, no sentence around it");
        });
    }

    [Test]
    public void Every_problem_is_reported_at_once()
    {
        var error = Validate(o => o.AddKey("agent", key =>
        {
            ValidKey(key);
            key.Policy.TimeZone = "Nowhere/Special";
            key.Policy.Endpoints.Allow.Add("FETCH v1");
            key.Policy.Allow("accounts", "acct_1");
        }));

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("TimeZone 'Nowhere/Special'"));
            Assert.That(error.Message, Does.Contain("Endpoints:Allow:0"));
            Assert.That(error.Message, Does.Contain("Scope:accounts"));
        });
    }

    [Test]
    public void No_message_contains_the_vendor_secret()
    {
        var error = Validate(o => o.AddKey("agent", key =>
        {
            ValidKey(key);
            key.VendorSecret = "tv_live_super_secret_value";
            key.Vendor = "nosuchvendor";
            key.Policy.DailyCap = null;
        }));

        Assert.That(error.ToString(), Does.Not.Contain("tv_live_super_secret_value"));
    }

    [Test]
    public void On_the_embedded_ledger_a_key_without_a_vendor_secret_fails_start_up_with_the_one_line_it_always_had()
    {
        var error = Validate(o => o.AddKey("agent", key => { ValidKey(key); key.VendorSecret = string.Empty; }));

        Assert.That(error.Failures, Is.EqualTo(new[] { "Keybrake:Keys:agent:VendorSecret: a value is required" }));
    }

    [Test]
    public void In_central_mode_a_key_without_a_vendor_secret_passes_validation_as_the_budget_service_holds_it()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", key => { ValidKey(key); key.VendorSecret = string.Empty; key.Policy.DailyCap = null; }))
            .UseBudgetService(o => (o.Address, o.ClientToken) = (new Uri("http://127.0.0.1:7411"), "kbc_testClientCredential0123456789abcdefABCDEF"))
            .AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.That(options.Keys["agent"].VendorSecret, Is.Empty);
    }

    [Test]
    public void In_central_mode_a_vendor_secret_that_is_a_brake_key_still_fails()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", key => { ValidKey(key); key.VendorSecret = "vault_key_0000000000000000000"; }))
            .UseBudgetService(o => (o.Address, o.ClientToken) = (new Uri("http://127.0.0.1:7411"), "kbc_testClientCredential0123456789abcdefABCDEF"))
            .AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value)!;

        Assert.That(error.Failures, Has.Some.Contains("Keybrake:Keys:agent:VendorSecret is a brake key"));
    }

    [Test]
    public void On_the_embedded_ledger_a_run_cap_that_includes_llm_fails_start_up_in_one_line_as_nothing_there_receives_LLM_spend()
    {
        var error = Validate(o => o.AddKey("agent", key => { ValidKey(key); key.Policy.RunCap = Usd.FromDollars(50); key.Policy.RunCapIncludes.Add("llm"); }));

        Assert.That(error.Failures, Is.EqualTo(new[]
        {
            "Keybrake:Keys:agent:Policy:RunCapIncludes 'llm' needs central mode (UseBudgetService()): LLM spend reaches only the budget service, so an embedded run cap cannot count it",
        }));
    }

    [Test]
    public void In_central_mode_a_run_cap_that_includes_llm_passes_validation()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", key => { ValidKey(key); key.Policy.RunCap = Usd.FromDollars(50); key.Policy.RunCapIncludes.Add("llm"); }))
            .UseBudgetService(o => (o.Address, o.ClientToken) = (new Uri("http://127.0.0.1:7411"), "kbc_testClientCredential0123456789abcdefABCDEF"))
            .AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.That(options.Keys["agent"].Policy.RunCapIncludes, Is.EqualTo(new[] { "llm" }));
    }

    internal static void ValidKey(KeybrakeKeyOptions key)
    {
        key.BrakeKey = "vault_key_" + new string('0', 16);
        key.Vendor = TestVendorProfile.Name;
        key.VendorSecret = "tv_secret_for_validation";
        key.Policy.DailyCap = Usd.FromDollars(10);
    }

    [Test]
    public void Central_mode_without_a_client_credential_fails_start_up_in_one_line()
    {
        var error = ValidateCentral(o => o.Address = new Uri("http://127.0.0.1:7411"));

        Assert.That(error.Failures, Is.EqualTo(new[]
        {
            "Keybrake:BudgetService:ClientToken: central mode needs a client credential: set ClientToken or ClientTokenFile (an operator issues one with 'keybrake clients create')",
        }));
    }

    [Test]
    public void A_client_credential_file_that_cannot_be_read_fails_start_up_naming_the_file_and_never_the_token()
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-credential-").FullName;
        try
        {
            var missing = Path.Combine(folder, "nope");
            var shortFile = Path.Combine(folder, "short");
            File.WriteAllText(shortFile, "kbc_short\n");
            var bothToken = "kbc_bothSetAndThisMustNotBeEchoed0123456789";

            var address = new Uri("http://127.0.0.1:7411");
            var unreadable = ValidateCentral(o => (o.Address, o.ClientTokenFile) = (address, missing));
            var tooShort = ValidateCentral(o => (o.Address, o.ClientTokenFile) = (address, shortFile));
            var both = ValidateCentral(o =>
            {
                o.Address = address;
                o.ClientToken = bothToken;
                o.ClientTokenFile = shortFile;
            });
            var control = ValidateCentral(o =>
            {
                o.Address = address;
                o.ClientToken = "kbc_withA\u0007BellInIt0123456789abcdef";
            });

            Assert.Multiple(() =>
            {
                Assert.That(unreadable.Failures, Has.Some.EqualTo($"Keybrake:BudgetService:ClientTokenFile: '{missing}' cannot be read: FileNotFoundException"));
                Assert.That(tooShort.Failures, Has.Some.EqualTo($"Keybrake:BudgetService:ClientTokenFile ('{shortFile}'): the client credential is shorter than 16 characters"));
                Assert.That(both.Failures, Has.Some.EqualTo("Keybrake:BudgetService:ClientToken and Keybrake:BudgetService:ClientTokenFile are both set; set one"));
                Assert.That(both.Message, Does.Not.Contain(bothToken));
                Assert.That(control.Failures, Has.Some.EqualTo("Keybrake:BudgetService:ClientToken: the client credential holds characters other than printable ASCII"));
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static ServiceProvider Build(Action<KeybrakeOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddKeybrake(configure).AddVendor<TestVendorProfile>();
        return services.BuildServiceProvider();
    }

    private static OptionsValidationException Validate(Action<KeybrakeOptions> configure)
    {
        using var provider = Build(configure);
        return Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value)!;
    }

    /// <summary>Central mode's options (Keybrake.Client.Central), validated as the guard's first use would.</summary>
    private static OptionsValidationException ValidateCentral(Action<KeybrakeBudgetServiceOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", ValidKey)).UseBudgetService(configure).AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();
        return Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value)!;
    }

    private static TestCaseData Case(string name, Action<KeybrakeKeyOptions> breakIt, string expected) =>
        new TestCaseData(breakIt, expected).SetName(name);
}
