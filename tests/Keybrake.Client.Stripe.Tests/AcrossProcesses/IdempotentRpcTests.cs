using Google.Protobuf;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The budget service's contract for retries, on the wire: a client that sends the same Authorize or Settle again
/// (its reply was lost, its deadline passed) changes nothing the first one did not.
/// </summary>
public sealed class IdempotentRpcTests
{
    private static readonly long s_estimate = Usd.FromDollars(25).Micros;

    [Test]
    public async Task The_same_Authorize_sent_again_returns_the_same_reservation_and_reserves_once()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var budget = BudgetServiceHost.BudgetClient(channel);
        var request = Authorize("retried-once");

        var first = await budget.AuthorizeAsync(request);
        var retry = await budget.AuthorizeAsync(request);
        var concurrentRetries = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => budget.AuthorizeAsync(request).ResponseAsync));

        var day = await DayAsync(channel);
        Assert.Multiple(() =>
        {
            Assert.That(first.Allowed, Is.True);
            Assert.That(first.Reuse, Is.EqualTo(Protocol.ReservationReuse.None));
            Assert.That(retry.Allowed, Is.True);
            Assert.That(retry.Reuse, Is.EqualTo(Protocol.ReservationReuse.Pending));
            Assert.That(concurrentRetries.Select(r => r.ReservationId).Append(retry.ReservationId), Is.All.EqualTo(first.ReservationId));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(s_estimate), "reserved once");
        });
    }

    [Test]
    public async Task The_same_Settle_sent_again_changes_nothing_more()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var budget = BudgetServiceHost.BudgetClient(channel);
        var reservation = await budget.AuthorizeAsync(Authorize("settled-once"));
        var settle = new SettleRequest
        {
            Settlements = { new Protocol.Settlement { ReservationId = reservation.ReservationId, Kind = Protocol.SettlementKind.Commit, ActualMicroUsd = Usd.FromDollars(20).Micros } },
        };

        var once = await budget.SettleAsync(settle);
        var again = await budget.SettleAsync(settle);
        var replay = await budget.AuthorizeAsync(Authorize("settled-once"));

        var day = await DayAsync(channel);
        Assert.Multiple(() =>
        {
            Assert.That(once.Changed, Is.EqualTo(1));
            Assert.That(again.Changed, Is.Zero);
            Assert.That(day.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(20).Micros), "settled once, at the actual cost");
            Assert.That(day.ReservedMicroUsd, Is.Zero);
            Assert.That(replay.Allowed, Is.True, "an Authorize retried after its call settled is a replay");
            Assert.That(replay.Reuse, Is.EqualTo(Protocol.ReservationReuse.Settled));
        });
    }

    [Test]
    public async Task An_idempotency_key_reused_for_a_different_request_is_refused()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var budget = BudgetServiceHost.BudgetClient(channel);
        await budget.AuthorizeAsync(Authorize("reused", hash: 1));

        var other = await budget.AuthorizeAsync(Authorize("reused", hash: 2));

        var day = await DayAsync(channel);
        Assert.Multiple(() =>
        {
            Assert.That(other.Allowed, Is.False);
            Assert.That(other.Reason, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(s_estimate));
        });
    }

    [Test]
    public async Task An_audit_batch_shipped_again_is_stored_once()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var budget = BudgetServiceHost.BudgetClient(channel);
        var batch = new SubmitAuditRequest
        {
            Records =
            {
                new Protocol.AuditRecord { RecordId = "aud_shipped_twice_1", KeyId = KeyId, Vendor = "stripe", Decision = "allow" },
                new Protocol.AuditRecord { RecordId = "aud_shipped_twice_2", KeyId = KeyId, Vendor = "stripe", Decision = "deny" },
            },
        };

        var first = await budget.SubmitAuditAsync(batch);
        var again = await budget.SubmitAuditAsync(batch);

        Assert.Multiple(() =>
        {
            Assert.That((first.Stored, first.Duplicates), Is.EqualTo((2, 0)));
            Assert.That((again.Stored, again.Duplicates), Is.EqualTo((0, 2)));
            Assert.That(BudgetStoreFile.ReadAudit(service.StoragePath).Select(r => r.RecordId), Is.EquivalentTo(new[] { "aud_shipped_twice_1", "aud_shipped_twice_2" }));
        });
    }

    private static AuthorizeRequest Authorize(string idempotencyKey, byte hash = 7)
    {
        var bytes = new byte[16];
        bytes[0] = hash;
        return new AuthorizeRequest { KeyId = KeyId, IdempotencyKey = idempotencyKey, EstimateMicroUsd = s_estimate, RequestHash = ByteString.CopyFrom(bytes) };
    }

    private static async Task<SpendReply> DayAsync(GrpcChannel channel) =>
        await Keybrake.Client.TestUtilities.BudgetService.BudgetServiceHost.AdminClient(channel).GetDailySpendAsync(new DailySpendRequest { KeyId = KeyId });
}
