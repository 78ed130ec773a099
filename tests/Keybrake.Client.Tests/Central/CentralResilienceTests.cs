using System.Net;
using Keybrake.Client.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralResilienceTests
{
    [Test]
    public async Task An_Authorize_whose_reply_was_lost_is_retried_and_reserves_once()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Wire.LoseReplies(BudgetServiceWire.Authorize);

        using var response = await host.SpendAsync(2_500);

        var spend = await host.SettledTodayAsync();
        var unsettled = await host.Admin.ListUnsettledAsync(CentralGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(host.Wire.Attempts(BudgetServiceWire.Authorize), Is.EqualTo(2), "the lost reply was retried");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(25)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero), "the retry found the first attempt's reservation instead of making a second");
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task A_Settle_whose_reply_was_lost_is_sent_again_and_settles_once()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Wire.LoseReplies(BudgetServiceWire.Settle);

        using var response = await host.SpendAsync(2_500);

        var settleAttempts = await Poll.UntilAsync(() => host.Wire.Attempts(BudgetServiceWire.Settle), attempts => attempts >= 2);
        var spend = await host.SettledTodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(settleAttempts, Is.GreaterThanOrEqualTo(2), "the settlement whose reply was lost was sent again");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(25)), "settled once, not twice");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [TestCase(2, HttpStatusCode.OK, null, TestName = "Two failed attempts are retried within the budget")]
    [TestCase(3, (HttpStatusCode)424, ReasonCodes.BudgetServiceUnavailable, TestName = "A third failed attempt is past the retry budget and fails closed")]
    public async Task Unavailable_is_retried_up_to_the_configured_number_of_times(int failures, HttpStatusCode status, string? decision)
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o => o.MaxRetries = 2);
        host.Wire.Fail(BudgetServiceWire.Authorize, failures);

        using var response = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(status));
            Assert.That(DecisionOf(response), Is.EqualTo(decision));
            Assert.That(host.Wire.Attempts(BudgetServiceWire.Authorize), Is.EqualTo(3));
        });
    }

    [Test]
    public async Task A_refusal_that_is_not_transient_is_not_retried()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);

        // The service refuses an idempotency key longer than 256 characters as an invalid argument.
        using var response = await host.SpendAsync(100, idempotencyKey: new string('k', 300));

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Wire.Attempts(BudgetServiceWire.Authorize), Is.EqualTo(1));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task An_Authorize_the_service_does_not_answer_in_time_is_retried_after_its_deadline()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o => o.CallTimeout = TimeSpan.FromMilliseconds(300));
        _ = host.Wire.HangNext(BudgetServiceWire.Authorize);

        using var response = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(host.Wire.Attempts(BudgetServiceWire.Authorize), Is.EqualTo(2), "the hung attempt ended at its deadline and was retried");
        });
    }

    [Test]
    public async Task A_guard_on_a_fake_clock_still_gets_deadlines_the_service_can_meet()
    {
        // gRPC measures deadlines against the system clock; a clock months behind must not make every deadline past.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, time: clock, budgetService: o => o.MaxRetries = 0);

        using var read = await host.ReadAsync();
        using var spend = await host.SpendAsync(100);
        var spent = await host.SettledTodayAsync();

        Assert.Multiple(() =>
        {
            Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(spent.Settled, Is.EqualTo(Usd.FromDollars(1)));
        });
    }

    [Test]
    public async Task A_caller_who_gives_up_while_the_service_hangs_gets_a_cancellation_and_nothing_is_forwarded()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o => o.CallTimeout = TimeSpan.FromSeconds(30));
        var hanging = host.Wire.HangNext(BudgetServiceWire.Authorize);
        using var giveUp = new CancellationTokenSource();

        var spend = host.SpendAsync(100, cancellationToken: giveUp.Token);
        await hanging;
        await giveUp.CancelAsync();

        Assert.Multiple(() =>
        {
            Assert.That(async () => await spend, Throws.InstanceOf<OperationCanceledException>());
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }
}
