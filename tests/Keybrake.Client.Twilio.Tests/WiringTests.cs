using System.Text;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Twilio.Clients;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

public sealed class WiringTests
{
    private const string ApiKeySid = "SK0123456789abcdef0123456789abcdef";
    private const string ApiKeySecret = "apikeysecret_0123456789abcdef";

    [Test]
    public async Task An_api_key_sid_as_user_name_keeps_its_place_and_the_secret_replaces_the_brake_key()
    {
        using var stub = TwilioStub.Start();
        await using var guard = KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey("api-key-agent", key =>
            {
                key.BrakeKey = TwilioGuardHost.BrakeKey;
                key.Vendor = "twilio";
                key.VendorSecret = ApiKeySecret;
                key.Policy.DailyCap = Usd.FromDollars(1);
            }))
            .AddTwilio());
        var twilio = guard.CreateTwilioClient(ApiKeySid, TwilioGuardHost.BrakeKey, TwilioGuardHost.AccountSid, new TwilioHostRewriteHandler(stub.Url));

        var message = await MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = "hi" }, twilio);
        var received = stub.Received.Single();
        var spend = await guard.Admin.GetDailySpendAsync("api-key-agent");
        Assert.Multiple(() =>
        {
            Assert.That(message.AccountSid, Is.EqualTo(TwilioGuardHost.AccountSid));
            Assert.That(received.Path, Is.EqualTo($"/2010-04-01/Accounts/{TwilioGuardHost.AccountSid}/Messages.json"));
            Assert.That(received.Headers["Authorization"], Is.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ApiKeySid}:{ApiKeySecret}"))));
            Assert.That(spend.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment));
        });
    }

    [Test]
    public async Task The_registered_client_is_a_singleton_for_both_its_types_and_registering_twice_is_harmless()
    {
        var services = new ServiceCollection();
        var builder = services.AddKeybrake(o => o.AddKey(TwilioGuardHost.KeyId, key =>
        {
            key.BrakeKey = TwilioGuardHost.BrakeKey;
            key.Vendor = "twilio";
            key.VendorSecret = TwilioGuardHost.AuthToken;
            key.Policy.DailyCap = Usd.FromDollars(1);
        }));
        builder.AddTwilio().AddTwilio().AddTwilioClient(o =>
        {
            o.Username = TwilioGuardHost.AccountSid;
            o.KeyId = TwilioGuardHost.KeyId;
        });
        builder.AddTwilioClient(o =>
        {
            o.Username = TwilioGuardHost.AccountSid;
            o.KeyId = TwilioGuardHost.KeyId;
        });
        await using var provider = services.BuildServiceProvider();

        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredService<ITwilioRestClient>(), Is.SameAs(provider.GetRequiredService<TwilioRestClient>()));
            Assert.That(provider.GetServices<VendorProfile>().Count(p => p.Vendor == "twilio"), Is.EqualTo(1));
            Assert.That(provider.GetRequiredService<TwilioRestClient>().AccountSid, Is.EqualTo(TwilioGuardHost.AccountSid));
        });
    }

    [Test]
    public void An_invalid_twilio_policy_fails_at_start_up_naming_the_field()
    {
        using var provider = Build(policy =>
        {
            policy.AllowTwilioDestinations("1415");
            policy.Limits["maxSegments"] = 0;
        });

        var keys = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);
        Assert.Multiple(() =>
        {
            Assert.That(keys!.Message, Does.Contain("Scope:destinations: '1415' is not an E.164 prefix"));
            Assert.That(keys.Message, Does.Contain("Limits:maxSegments must be at least 1"));
        });
    }

    [Test]
    public void Invalid_rates_fail_at_start_up_naming_the_field()
    {
        using var provider = Build(twilio: o =>
        {
            o.SegmentRates["gb"] = "0.05";
            o.SegmentRates["FR"] = "free";
            o.Keys["sms-agent"] = new KeybrakeTwilioKeyOptions { DefaultSegmentRate = "-1" };
        });

        var rates = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeTwilioOptions>>().Value);
        Assert.Multiple(() =>
        {
            Assert.That(rates!.Message, Does.Contain("SegmentRates:gb"));
            Assert.That(rates.Message, Does.Contain("SegmentRates:FR: 'free'"));
            Assert.That(rates.Message, Does.Contain("Keys:sms-agent:DefaultSegmentRate"));
        });
    }

    [Test]
    public void An_election_ttl_shorter_than_three_check_intervals_fails_at_start_up()
    {
        using var provider = Build(twilio: o =>
        {
            o.PriceReconciliation.Delay = TimeSpan.FromSeconds(40); // checks every 10 s
            o.PriceReconciliation.ElectionTtl = TimeSpan.FromSeconds(29);
        });

        var ttl = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeTwilioOptions>>().Value);
        Assert.That(ttl!.Message, Does.Contain("PriceReconciliation:ElectionTtl must be between three check intervals (00:00:30"));
    }

    private static ServiceProvider Build(Action<KeybrakePolicyOptions>? policy = null, Action<KeybrakeTwilioOptions>? twilio = null)
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(TwilioGuardHost.KeyId, key =>
            {
                key.BrakeKey = TwilioGuardHost.BrakeKey;
                key.Vendor = "twilio";
                key.VendorSecret = TwilioGuardHost.AuthToken;
                key.Policy.DailyCap = Usd.FromDollars(1);
                policy?.Invoke(key.Policy);
            }))
            .AddTwilio(twilio);
        return services.BuildServiceProvider();
    }

    [Test]
    public async Task The_guard_plugs_into_the_named_client_twilio_aspnet_core_uses()
    {
        using var stub = TwilioStub.Start();
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(TwilioGuardHost.KeyId, key =>
        {
            key.BrakeKey = TwilioGuardHost.BrakeKey;
            key.Vendor = "twilio";
            key.VendorSecret = TwilioGuardHost.AuthToken;
            key.Policy.DailyCap = Usd.Zero;
        }));
        services.AddHttpClient(KeybrakeTwilioBuilderExtensions.TwilioAspNetCoreClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(stub.Url))
            .AddKeybrakeTwilioGuard();
        await using var provider = services.BuildServiceProvider();
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeTwilioBuilderExtensions.TwilioAspNetCoreClientName);
        var twilio = new TwilioRestClient(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey, httpClient: new global::Twilio.Http.SystemNetHttpClient(http));

        var denied = Assert.ThrowsAsync<global::Twilio.Exceptions.ApiException>(() =>
            MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = "hi" }, twilio));
        Assert.Multiple(() =>
        {
            Assert.That(TwilioErrorCodes.ReasonOf(denied!.Message), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(stub.Received, Is.Empty);
        });
    }
}
