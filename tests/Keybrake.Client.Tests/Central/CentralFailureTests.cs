using System.Net;
using Grpc.Core;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

/// <summary>
/// However the budget service fails (hung past the total timeout, refusing the client, missing the method), a
/// guarded call its caller did not cancel ends as a <c>budget_service_unavailable</c> denial in the vendor's
/// shape, never as a raw gRPC exception.
/// </summary>
public sealed class CentralFailureTests
{
    [Test]
    public async Task An_Authorize_hung_past_the_total_timeout_is_a_denial_and_its_attempts_stay_within_the_total()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();

        // Two 2 s attempts would overrun the 3 s total: the second is cut to what is left of it, and the call
        // used to end in an RpcException (Cancelled) that reached the caller.
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o =>
        {
            o.CallTimeout = TimeSpan.FromSeconds(2);
            o.TotalTimeout = TimeSpan.FromSeconds(3);
            o.MaxRetries = 2;
        });
        host.Wire.HangAll(BudgetServiceWire.Authorize);

        using var response = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo((HttpStatusCode)424));
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(host.Wire.Attempts(BudgetServiceWire.Authorize), Is.InRange(1, 2), "no attempt starts once the total is spent");
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    // PermissionDenied and Unauthenticated are refusals of the process's credential, denied as such (CredentialTests).
    [TestCase(StatusCode.OutOfRange)]
    [TestCase(StatusCode.Unimplemented)]
    [TestCase(StatusCode.FailedPrecondition)]
    [TestCase(StatusCode.Cancelled)]
    public async Task An_Authorize_the_service_answers_without_a_decision_is_a_denial_in_the_vendor_s_shape(StatusCode status)
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Wire.Refuse(BudgetServiceWire.Authorize, status, count: 10);

        using var response = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_settlement_refused_for_good_is_set_aside_and_the_sender_goes_on()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Wire.Refuse(BudgetServiceWire.Settle, StatusCode.PermissionDenied);

        // The first settlement is refused (a credential without the key in its scope, say); it used to end the
        // sender's loop without a word, and every later settlement stayed pending, counted as spent.
        using var first = await host.SpendAsync(1_000);
        var setAside = await TestUtilities.Poll.UntilAsync(() => host.Ledger.Settlements.SetAside, count => count >= 1);
        using var second = await host.SpendAsync(2_000);
        var spend = await TestUtilities.Poll.UntilAsync(async () => await host.TodayAsync(), s => s.Settled == Usd.FromDollars(20));

        Assert.Multiple(() =>
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(setAside, Is.EqualTo(1), "the refused settlement was set aside");
            Assert.That(host.Ledger.Settlements.IsRunning, Is.True, "the sender survived the refusal");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(20)), "the settlement after the refused one reached the service");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(10)), "the refused one's reservation stays pending, counted as spent");
            Assert.That(SetAsideRows(host.Outbox.Path), Is.EqualTo(1), "visible in the outbox file");
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.Some.Contains("set aside").And.Contains("PermissionDenied"));
        });
    }

    private static long SetAsideRows(string outboxPath)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={outboxPath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM set_aside WHERE kind = 'settle'";
        return (long)command.ExecuteScalar()!;
    }
}
