using System.Net.Http.Json;
using System.Text;
using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities.Resend;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend.Tests;

public sealed class WiringTests
{
    private const string BrakeKey = "vault_key_test_wiring_mailer_00001";
    private const string Secret = "re_wiring_secret";

    [Test]
    public async Task AddResendSdkGuard_guards_the_client_IHttpClientFactory_hands_out_under_the_name_IResend()
    {
        using var stub = ResendStub.Start();
        var services = new ServiceCollection();
        services.AddKeybrake(o => AddKey(o, stub.Url, "mailer", key => key.Policy.DailyCap = Usd.FromDollars(1))).AddResendSdkGuard();
        await using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();

        using var guarded = factory.CreateClient("IResend");
        using var response = await guarded.SendAsync(SendRequest(stub, "mailer@customer.example"));
        using var other = factory.CreateClient("some-other-client");
        using var unguarded = await other.SendAsync(SendRequest(stub, "other@customer.example"));

        var received = stub.Received;
        Assert.Multiple(() =>
        {
            Assert.That(KeybrakeResendBuilderExtensions.ResendSdkClientName, Is.EqualTo("IResend"));
            Assert.That(response.IsSuccessStatusCode, Is.True);
            Assert.That(received[0].Headers["Authorization"], Is.EqualTo("Bearer " + Secret), "the guard swapped the brake key for the Resend key");
            Assert.That(received[1].Headers["Authorization"], Is.EqualTo("Bearer " + BrakeKey), "a client by another name has no guard");
        });
        Assert.That((await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync("mailer")).Settled, Is.EqualTo(Usd.FromMicros(900)));
    }

    [Test]
    public async Task The_SDK_s_typed_client_registered_before_the_guard_is_guarded_too()
    {
        using var stub = ResendStub.Start();
        var services = new ServiceCollection();

        // The SDK's registration first, Keybrake's after: the order does not matter.
        services.Configure<ResendSdkOptions>(o => { o.ApiUrl = stub.Url; o.ApiToken = BrakeKey; });
        services.AddHttpClient<IResend, ResendSdkShapedClient>();
        services.AddKeybrake(o => AddKey(o, stub.Url, "mailer", key => key.Policy.AllowResendRecipientDomains("customer.example"))).AddResendSdkGuard();
        await using var provider = services.BuildServiceProvider();
        var resend = provider.GetRequiredService<IResend>();

        await resend.EmailSendAsync(EmailMessage.To_("jane@customer.example"));
        var denied = Assert.ThrowsAsync<ResendApiException>(() => resend.EmailSendAsync(EmailMessage.To_("jane@competitor.example")));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(stub.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Keys_scope_and_prices_bind_from_configuration_and_the_guard_goes_on_the_builder_AddResend_returns()
    {
        const string settings = """
            {
              "Keybrake": {
                "Keys": {
                  "newsletter": {
                    "BrakeKey": "vault_key_from_configuration_000001",
                    "Vendor": "resend",
                    "VendorSecret": "re_from_configuration",
                    "Policy": {
                      "DailyCap": "5.00",
                      "Endpoints": { "Deny": [ "POST /broadcasts/**" ] },
                      "Scope": { "recipientDomains": [ "customer.example", "*.partner.example" ] },
                      "Limits": { "maxRecipientsPerEmail": 2, "maxRecipientsPerRequest": 20 }
                    }
                  }
                },
                "Resend": { "PricePerEmail": "0.002", "KeyPrices": { "newsletter": "0.0015" } }
              }
            }
            """;
        using var stub = ResendStub.Start();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(settings)))
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Keybrake:Keys:newsletter:VendorEndpoint"] = stub.Url })
            .Build());
        services.Configure<ResendSdkOptions>(o => { o.ApiUrl = stub.Url; o.ApiToken = "vault_key_from_configuration_000001"; });

        // The change a user makes: the builder the SDK's AddResend returns, plus one call.
        services.AddHttpClient<IResend, ResendSdkShapedClient>().AddKeybrakeResendGuard();
        await using var provider = services.BuildServiceProvider();
        var resend = provider.GetRequiredService<IResend>();
        var resendOptions = provider.GetRequiredService<IOptions<KeybrakeResendOptions>>().Value;

        await resend.EmailSendAsync(EmailMessage.To_("a@customer.example", "b@eu.partner.example"));
        var tooMany = Assert.ThrowsAsync<ResendApiException>(() => resend.EmailSendAsync(EmailMessage.To_("a@customer.example", "b@customer.example", "c@customer.example")));
        var broadcast = Assert.ThrowsAsync<ResendApiException>(() => resend.BroadcastSendAsync(Guid.NewGuid()));
        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync("newsletter");

        Assert.Multiple(() =>
        {
            Assert.That(resendOptions.PricePerEmail, Is.EqualTo(Usd.FromMicros(2000)));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(3000)), "two recipients at the key's own 0.0015");
            Assert.That(tooMany!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(broadcast!.Decision, Is.EqualTo(ReasonCodes.EndpointNotAllowed));
            Assert.That(stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer re_from_configuration"));
        });
    }

    [Test]
    public async Task Calling_the_registrations_twice_is_harmless_one_guard_one_reservation()
    {
        using var stub = ResendStub.Start();
        var services = new ServiceCollection();
        for (var i = 0; i < 2; i++)
        {
            services.AddKeybrake(o => AddKey(o, stub.Url, "mailer", key => key.Policy.DailyCap = Usd.FromMicros(1500)))
                .AddResend()
                .AddResendSdkGuard();
            services.AddHttpClient("IResend").AddKeybrakeResendGuard();
        }

        await using var provider = services.BuildServiceProvider();
        using var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("IResend");
        using var first = await http.SendAsync(SendRequest(stub, "a@customer.example"));
        using var second = await http.SendAsync(SendRequest(stub, "b@customer.example"));

        Assert.Multiple(() =>
        {
            Assert.That(first.IsSuccessStatusCode, Is.True, "one guard reserves $0.0009 once; two would reserve $0.0018, over the $0.0015 cap");
            Assert.That(second.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(provider.GetServices<VendorProfile>().Count(), Is.EqualTo(1));
            Assert.That(stub.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Without_dependency_injection_a_console_app_hands_the_SDK_a_client_from_KeybrakeGuard()
    {
        using var stub = ResendStub.Start();
        await using var keybrake = KeybrakeGuard.Create(k => k
            .Configure(o => AddKey(o, stub.Url, "console-mailer", key => key.Policy.DailyCap = Usd.FromMicros(2000)))
            .AddResend());
        using var http = keybrake.CreateResendHttpClient();
        var baseAddress = http.BaseAddress;

        // What ResendClient.Create(options, http) does: it sets the API URL and the token on the client it is given.
        var resend = new ResendSdkShapedClient(Options.Create(new ResendSdkOptions { ApiUrl = stub.Url, ApiToken = BrakeKey }), http);
        await resend.EmailSendAsync(EmailMessage.To_("a@customer.example", "b@customer.example"));
        var denied = Assert.ThrowsAsync<ResendApiException>(() => resend.EmailSendAsync(EmailMessage.To_("c@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(baseAddress, Is.EqualTo(new Uri(ResendOpenApi.ServerUrl + "/")), "the client starts at Resend's API address");
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(stub.RecipientsSent, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task With_ThrowOnDeny_the_SDK_wraps_the_KeybrakeDeniedException_as_a_transient_send_failure()
    {
        // The Resend SDK turns any exception from its HttpClient into ResendException(http_send_failed), which it
        // calls transient: with Resend, the default Resend-shaped denial is the better choice, and the README says so.
        await using var host = ResendGuardHost.Start(policy => policy.AllowResendRecipientDomains("customer.example"), options: o => o.ThrowOnDeny = true);

        var wrapped = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane@competitor.example")));

        var denied = wrapped!.InnerException as KeybrakeDeniedException;
        Assert.Multiple(() =>
        {
            Assert.That(wrapped.ErrorName, Is.EqualTo("http_send_failed"));
            Assert.That(wrapped.IsTransient, Is.True);
            Assert.That(denied?.Reason, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied?.Vendor, Is.EqualTo("resend"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [TestCase("Keybrake:Keys:mailer:Policy:Scope:recipientDomains:0", "customer example", "'customer example' is not a domain")]
    [TestCase("Keybrake:Keys:mailer:Policy:Scope:recipientDomains:0", "jane@customer.example", "'jane@customer.example' is not a domain")]
    [TestCase("Keybrake:Keys:mailer:Policy:Scope:recipients:0", "customer.example", "Scope:recipients is not an allowlist resend knows")]
    [TestCase("Keybrake:Keys:mailer:Policy:Limits:maxRecipientsPerEmail", "0", "Limits:maxRecipientsPerEmail must be at least 1")]
    [TestCase("Keybrake:Keys:mailer:Policy:Limits:maxRecipients", "5", "Limits:maxRecipients is not a limit resend knows")]
    [TestCase("Keybrake:Resend:PricePerEmail", "9", "Keybrake:Resend:PricePerEmail must be between $0 and $1.00")]
    [TestCase("Keybrake:Resend:KeyPrices:nobody", "0.001", "Keybrake:Resend:KeyPrices:nobody names a key that is not configured")]
    public void An_invalid_Resend_setting_fails_at_start_up_with_a_message_that_names_the_field(string path, string value, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Keybrake:Keys:mailer:BrakeKey"] = BrakeKey,
            ["Keybrake:Keys:mailer:Vendor"] = "resend",
            ["Keybrake:Keys:mailer:VendorSecret"] = Secret,
            ["Keybrake:Keys:mailer:Policy:DailyCap"] = "10",
            [path] = value,
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddKeybrake().AddResendSdkGuard();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Catch(() =>
        {
            _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;
            _ = provider.GetRequiredService<IOptions<KeybrakeResendOptions>>().Value;
        });

        Assert.That(error!.ToString(), Does.Contain(expected));
    }

    private static void AddKey(KeybrakeOptions options, string standIn, string keyId, Action<KeybrakeKeyOptions>? configure = null) =>
        options.AddKey(keyId, key =>
        {
            key.BrakeKey = BrakeKey;
            key.Vendor = "resend";
            key.VendorSecret = Secret;
            key.VendorEndpoint = standIn;
            key.Policy.DailyCap = Usd.FromDollars(1);
            configure?.Invoke(key);
        });

    private static HttpRequestMessage SendRequest(ResendStub stub, string to)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(stub.Url), "/emails")) { Content = JsonContent.Create(EmailMessage.To_(to)) };
        request.Headers.Authorization = new("Bearer", BrakeKey);
        return request;
    }
}
