using System.Diagnostics.Metrics;
using System.Net.Http.Headers;
using System.Text.Json;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Telemetry;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Twilio.Clients;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// A settled price above its estimate can take the day past the cap the reservation fit: two messages reserved at
/// the table's $0.0083 fit a $0.03 cap, and Twilio bills each $0.0249 (carrier fees). The second price to settle
/// takes settled spend to $0.0498, $0.0198 over. That is never silent: the day's spend carries the flag and the
/// amount, a warning is logged, and keybrake.spend.overrun counts it, embedded and at the budget service.
/// </summary>
public sealed class OverrunTests
{
    private const string HighPrice = "-0.02490";
    private static readonly Usd s_overrun = Usd.FromMicros((2 * 24_900) - 30_000);

    [Test]
    public async Task Embedded_a_price_that_takes_the_day_past_the_cap_is_flagged_logged_and_counted()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.FromCents(3));
        using var overruns = new InstrumentRecorder(host.Services.GetRequiredService<IMeterFactory>(), KeybrakeTelemetry.Name, "keybrake.spend.overrun");
        host.Stub.PriceMessagesWith(_ => HighPrice);
        var first = await host.SendAsync("one");
        var second = await host.SendAsync("two");

        await MessageResource.FetchAsync(first.Sid, client: host.Twilio);
        var afterFirst = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        await MessageResource.FetchAsync(second.Sid, client: host.Twilio);
        var afterSecond = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        var warnings = host.Logs.Logs.Where(log => log.EventId.Id == 240).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(afterFirst.IsOverCap, Is.False, "$0.0249 settled is within $0.03");
            Assert.That(afterSecond.Settled, Is.EqualTo(Usd.FromMicros(49_800)));
            Assert.That(afterSecond.IsOverCap, Is.True);
            Assert.That(afterSecond.Overrun, Is.EqualTo(s_overrun));
            Assert.That(warnings, Has.Count.EqualTo(1));
            Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warnings[0].Message, Does.Contain("sms-agent").And.Contain("OVER its daily cap").And.Contain("19800"));
            Assert.That(overruns.Measurements.Select(m => m.Value), Is.EqualTo(new[] { s_overrun.Micros }));
            Assert.That(overruns.Measurements[0].Tags["vendor"], Is.EqualTo("twilio"));
            Assert.That(overruns.Measurements[0].Tags["key"], Is.EqualTo(TwilioGuardHost.KeyId));
            Assert.That(overruns.Measurements[0].Tags["scope"], Is.EqualTo("daily"));
        });
    }

    [Test]
    public async Task Embedded_prices_within_the_cap_raise_no_flag_no_warning_and_no_metric()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.FromCents(3));
        using var overruns = new InstrumentRecorder(host.Services.GetRequiredService<IMeterFactory>(), KeybrakeTelemetry.Name, "keybrake.spend.overrun");
        var first = await host.SendAsync("one");
        var second = await host.SendAsync("two");
        await MessageResource.FetchAsync(first.Sid, client: host.Twilio);
        await MessageResource.FetchAsync(second.Sid, client: host.Twilio);

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(2 * 7_500)));
            Assert.That(spend.IsOverCap, Is.False);
            Assert.That(spend.Overrun, Is.EqualTo(Usd.Zero));
            Assert.That(host.Logs.Logs.Where(log => log.EventId.Id == 240), Is.Empty);
            Assert.That(overruns.Measurements, Is.Empty);
        });
    }

    [Test]
    public async Task Embedded_a_price_that_takes_a_run_past_its_run_cap_flags_the_run()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.RunCap = Usd.FromCents(3));
        host.Stub.PriceMessagesWith(_ => HighPrice);
        using (KeybrakeRun.Begin("run_over"))
        {
            var first = await host.SendAsync("one");
            var second = await host.SendAsync("two");
            await MessageResource.FetchAsync(first.Sid, client: host.Twilio);
            await MessageResource.FetchAsync(second.Sid, client: host.Twilio);
        }

        var run = await host.Admin.GetRunSpendAsync(TwilioGuardHost.KeyId, "run_over");
        var day = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(run.Overrun, Is.EqualTo(s_overrun));
            Assert.That(day.IsOverCap, Is.False, "the $1 daily cap was not passed");
            Assert.That(host.Logs.Logs.Count(log => log.EventId.Id == 240 && log.Message.Contains("OVER its run cap", StringComparison.Ordinal)), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Central_a_price_that_takes_the_day_past_the_cap_is_flagged_at_the_service_in_grpc_and_rest_logged_and_counted()
    {
        var serviceLogs = new CapturingLoggerProvider();
        await using var service = await BudgetServiceHost.StartAsync(
            BudgetServiceHost.Key(TwilioGuardHost.KeyId, "0.03", vendor: "twilio"),
            configure: builder => builder.Logging.AddProvider(serviceLogs));
        using var overruns = new InstrumentRecorder(service.Services.GetRequiredService<IMeterFactory>(), "Keybrake.BudgetService", "keybrake.spend.overrun");
        using var stub = TwilioStub.Start();
        stub.PriceMessagesWith(_ => HighPrice);
        var folder = Directory.CreateTempSubdirectory("keybrake-twilio-overrun-").FullName;
        try
        {
            await using var provider = TwilioGuardHost.CentralServices(service.Address, stub, folder);
            var twilio = provider.GetRequiredService<TwilioRestClient>();
            var admin = provider.GetRequiredService<IKeybrakeAdmin>();
            var first = await Send(twilio, "one");
            var second = await Send(twilio, "two");
            await MessageResource.FetchAsync(first.Sid, client: twilio);
            await MessageResource.FetchAsync(second.Sid, client: twilio);

            // Settlements travel to the service in the background: wait for both to land.
            var spend = await Poll.UntilAsync(() => admin.GetDailySpendAsync(TwilioGuardHost.KeyId).AsTask(), s => s.Reserved == Usd.Zero && s.Settled == Usd.FromMicros(49_800));
            using var rest = new HttpClient { BaseAddress = service.RestAddress };
            rest.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
            using var restSpend = JsonDocument.Parse(await rest.GetStringAsync($"/v1/keys/{TwilioGuardHost.KeyId}/spend/daily"));

            var warnings = serviceLogs.Logs.Where(log => log.EventId.Id == 241).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(spend.IsOverCap, Is.True);
                Assert.That(spend.Overrun, Is.EqualTo(s_overrun));
                Assert.That(restSpend.RootElement.GetProperty("overCap").GetBoolean(), Is.True);
                Assert.That(restSpend.RootElement.GetProperty("overrunMicroUsd").GetRawText().Trim('"'), Is.EqualTo(s_overrun.Micros.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                Assert.That(warnings, Has.Count.EqualTo(1));
                Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
                Assert.That(warnings[0].Message, Does.Contain("sms-agent").And.Contain("twilio").And.Contain("OVER its daily cap"));
                Assert.That(overruns.Measurements.Sum(m => m.Value), Is.EqualTo(s_overrun.Micros));
                Assert.That(overruns.Measurements.Select(m => m.Tags["key"]), Is.All.EqualTo(TwilioGuardHost.KeyId));
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task Central_prices_within_the_cap_raise_no_flag()
    {
        var serviceLogs = new CapturingLoggerProvider();
        await using var service = await BudgetServiceHost.StartAsync(
            BudgetServiceHost.Key(TwilioGuardHost.KeyId, "0.03", vendor: "twilio"),
            configure: builder => builder.Logging.AddProvider(serviceLogs));
        using var stub = TwilioStub.Start();
        var folder = Directory.CreateTempSubdirectory("keybrake-twilio-overrun-").FullName;
        try
        {
            await using var provider = TwilioGuardHost.CentralServices(service.Address, stub, folder);
            var twilio = provider.GetRequiredService<TwilioRestClient>();
            var admin = provider.GetRequiredService<IKeybrakeAdmin>();
            var first = await Send(twilio, "one");
            await MessageResource.FetchAsync(first.Sid, client: twilio);

            var spend = await Poll.UntilAsync(() => admin.GetDailySpendAsync(TwilioGuardHost.KeyId).AsTask(), s => s.Reserved == Usd.Zero);
            Assert.Multiple(() =>
            {
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(7_500)));
                Assert.That(spend.IsOverCap, Is.False);
                Assert.That(serviceLogs.Logs.Where(log => log.EventId.Id == 241), Is.Empty);
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Task<MessageResource> Send(TwilioRestClient twilio, string body) =>
        MessageResource.CreateAsync(
            new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = body },
            twilio);
}
