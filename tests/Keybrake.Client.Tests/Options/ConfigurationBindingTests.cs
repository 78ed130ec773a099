using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

public sealed class ConfigurationBindingTests
{
    private static readonly Dictionary<string, string?> s_fullSection = new()
    {
        ["Keybrake:MaxRequestBodyBytes"] = "4096",
        ["Keybrake:ThrowOnDeny"] = "true",
        ["Keybrake:LookupTimeout"] = "00:00:01.5",
        ["Keybrake:Audit:FilePath"] = "audit/keybrake.jsonl",
        ["Keybrake:Keys:agent:BrakeKey"] = "vault_key_from_configuration_000001",
        ["Keybrake:Keys:agent:Vendor"] = "testvendor",
        ["Keybrake:Keys:agent:VendorSecret"] = "tv_secret_from_configuration",
        ["Keybrake:Keys:agent:Policy:DailyCap"] = "100",
        ["Keybrake:Keys:agent:Policy:RunCap"] = "$5",
        ["Keybrake:Keys:agent:Policy:PerRequestMax"] = "12.50",
        ["Keybrake:Keys:agent:Policy:TimeZone"] = "Asia/Tokyo",
        ["Keybrake:Keys:agent:Policy:Endpoints:Allow:0"] = "POST /v1/spend",
        ["Keybrake:Keys:agent:Policy:Endpoints:Allow:1"] = "GET /v1/**",
        ["Keybrake:Keys:agent:Policy:Endpoints:Deny:0"] = "* /v1/admin/**",
        ["Keybrake:Keys:agent:Policy:Scope:recipients:0"] = "r_1",
        ["Keybrake:Keys:agent:Policy:Scope:recipients:1"] = "r_2",
        ["Keybrake:Keys:agent:Policy:Limits:maxItems"] = "7",
        ["Keybrake:Keys:agent:Policy:RequestsPerMinute"] = "30",
        ["Keybrake:Keys:agent:Policy:LoopBreaker:MaxRepeats"] = "5",
        ["Keybrake:Keys:agent:Policy:LoopBreaker:Window"] = "00:02:30",
        ["Keybrake:Keys:agent:Policy:UnknownObjects"] = "ReservePerRequestMax",
    };

    [Test]
    public void Every_setting_binds_from_an_in_memory_Keybrake_section()
    {
        using var provider = Build(s_fullSection);

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        var key = options.Keys["agent"];
        var policy = key.Policy;
        Assert.Multiple(() =>
        {
            Assert.That(options.MaxRequestBodyBytes, Is.EqualTo(4096));
            Assert.That(options.ThrowOnDeny, Is.True);
            Assert.That(options.LookupTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(1500)));
            Assert.That(key.Policy.UnknownObjects, Is.EqualTo(UnknownObjectBehavior.ReservePerRequestMax));
            Assert.That(options.Audit.FilePath, Is.EqualTo("audit/keybrake.jsonl"));
            Assert.That(key.BrakeKey, Is.EqualTo("vault_key_from_configuration_000001"));
            Assert.That(key.Vendor, Is.EqualTo("testvendor"));
            Assert.That(key.VendorSecret, Is.EqualTo("tv_secret_from_configuration"));
            Assert.That(policy.DailyCap, Is.EqualTo(Usd.FromDollars(100)));
            Assert.That(policy.RunCap, Is.EqualTo(Usd.FromDollars(5)));
            Assert.That(policy.PerRequestMax, Is.EqualTo(Usd.FromCents(1250)));
            Assert.That(policy.TimeZone, Is.EqualTo("Asia/Tokyo"));
            Assert.That(policy.Endpoints.Allow, Is.EqualTo(new[] { "POST /v1/spend", "GET /v1/**" }));
            Assert.That(policy.Endpoints.Deny, Is.EqualTo(new[] { "* /v1/admin/**" }));
            Assert.That(policy.Scope["recipients"], Is.EqualTo(new[] { "r_1", "r_2" }));
            Assert.That(policy.Scope["RECIPIENTS"], Is.SameAs(policy.Scope["recipients"]), "allowlist names ignore case");
            Assert.That(policy.Limits["maxItems"], Is.EqualTo(7));
            Assert.That(policy.RequestsPerMinute, Is.EqualTo(30));
            Assert.That(policy.LoopBreaker.MaxRepeats, Is.EqualTo(5));
            Assert.That(policy.LoopBreaker.Window, Is.EqualTo(TimeSpan.FromSeconds(150)));
        });
    }

    [TestCase("DailyCap", "12.3456789", "'12.3456789' is not a USD amount")]
    [TestCase("DailyCap", "-5", "'-5' is not a USD amount")]
    [TestCase("RunCap", "lots", "'lots' is not a USD amount")]
    public void A_key_whose_amount_cannot_be_parsed_is_reported_not_dropped(string field, string value, string expected)
    {
        var settings = new Dictionary<string, string?>(s_fullSection) { [$"Keybrake:Keys:agent:Policy:{field}"] = value };
        using var provider = Build(settings);

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("Keybrake:Keys:agent"));
            Assert.That(error.Message, Does.Contain(expected));
        });
    }

    [TestCase("Keybrake:Keys:agent:Policy:RunCaps", "5", "'RunCaps'", TestName = "A misspelt policy setting is reported, not ignored")]
    [TestCase("Keybrake:Keys:agent:Policy:LoopBreaker:MaxRepeat", "1", "'MaxRepeat'", TestName = "A misspelt loop breaker setting is reported, not ignored")]
    [TestCase("Keybrake:Keys:agent:VendorSecrets", "x", "'VendorSecrets'", TestName = "A misspelt key setting is reported, not ignored")]
    public void A_setting_nobody_reads_fails_validation_and_names_itself(string field, string value, string expected)
    {
        using var provider = Build(new Dictionary<string, string?>(s_fullSection) { [field] = value });

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);

        Assert.That(error!.Message, Does.Contain("Keybrake:Keys:agent").And.Contain(expected));
    }

    [Test]
    public void A_limit_whose_value_cannot_be_parsed_is_reported_not_dropped()
    {
        var settings = new Dictionary<string, string?>(s_fullSection) { ["Keybrake:Keys:agent:Policy:Limits:maxItems"] = "seven" };
        using var provider = Build(settings);

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);

        Assert.That(error!.Message, Does.Contain("Keybrake:Keys:agent:Policy:Limits:maxItems"));
    }

    [Test]
    public void A_key_with_an_unreadable_value_is_reported_while_the_other_keys_still_bind()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>(s_fullSection)
        {
            ["Keybrake:Keys:broken:BrakeKey"] = "vault_key_broken_key_0000000000002",
            ["Keybrake:Keys:broken:Vendor"] = "testvendor",
            ["Keybrake:Keys:broken:VendorSecret"] = "tv_secret_broken",
            ["Keybrake:Keys:broken:Policy:DailyCap"] = "10",
            ["Keybrake:Keys:broken:Policy:LoopBreaker:Window"] = "soon",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).BuildServiceProvider();
        var options = new KeybrakeOptions();

        new BindKeybrakeConfiguration(services).Configure(options);

        Assert.Multiple(() =>
        {
            Assert.That(options.Keys.Keys, Is.EqualTo(new[] { "agent" }));
            Assert.That(options.ConfigurationErrors, Has.Count.EqualTo(1));
            Assert.That(options.ConfigurationErrors[0], Does.StartWith("Keybrake:Keys:broken: "));
            Assert.That(options.ConfigurationErrors[0], Does.Contain("soon"));
        });
    }

    [Test]
    public void Code_configuration_runs_after_the_section_and_wins()
    {
        var services = new ServiceCollection().AddSingleton<IConfiguration>(Configuration(s_fullSection));
        services.AddKeybrake(o => o.Keys["agent"].Policy.DailyCap = Usd.FromDollars(7)).AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.Multiple(() =>
        {
            Assert.That(options.Keys["agent"].Policy.DailyCap, Is.EqualTo(Usd.FromDollars(7)));
            Assert.That(options.Keys["agent"].Policy.RunCap, Is.EqualTo(Usd.FromDollars(5)), "the rest still comes from the section");
        });
    }

    [Test]
    public void Without_configuration_only_code_configures()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.That(options.Keys.Keys, Is.EqualTo(new[] { "agent" }));
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection().AddSingleton(Configuration(settings));
        services.AddKeybrake().AddVendor<TestVendorProfile>();
        return services.BuildServiceProvider();
    }
}
