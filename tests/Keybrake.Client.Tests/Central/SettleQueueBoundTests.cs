using Grpc.Net.Client;
using Keybrake.Client.Central;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keybrake.Client.Tests;

/// <summary>
/// The settlement queue is bounded: while the service cannot be reached, a million settlements leave at most
/// the queue's capacity (and the batch being sent) in memory, and the rest are counted as dropped (their
/// reservations stay pending at the service, counted as spent). It used to grow without bound.
/// </summary>
public sealed class SettleQueueBoundTests
{
    private const int Settlements = 1_000_000;
    private const int Capacity = 1_000;

    [Test]
    public void A_million_settlements_during_an_outage_hold_no_more_than_the_queue_s_capacity()
    {
        // Nothing listens on port 1: every send fails at once as unreachable, and the sender keeps retrying.
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:1");
        var options = new KeybrakeBudgetServiceOptions { MaxRetries = 0 };
        var sender = new SettleSender(
            new Budget.BudgetClient(channel), new BudgetServiceResilience(options), TimeProvider.System, TimeProvider.System,
            TimeSpan.Zero, objectsSent: null, NullLogger.Instance, setAside: null, capacity: Capacity);
        long most = 0;
        try
        {
            for (var i = 0; i < Settlements; i++)
            {
                sender.Enqueue(new Protocol.Settlement { ReservationId = $"rsv_{i}", Kind = Protocol.SettlementKind.Commit, ActualMicroUsd = 1 });
                most = Math.Max(most, sender.Pending);
            }

            Assert.Multiple(() =>
            {
                Assert.That(most, Is.LessThanOrEqualTo(Capacity + 500), "the queue, and one batch being sent");
                Assert.That(sender.Dropped + sender.Pending, Is.LessThanOrEqualTo(Settlements));
                Assert.That(sender.Dropped, Is.GreaterThanOrEqualTo(Settlements - Capacity - 500), "what did not fit was dropped, and counted");
                Assert.That(sender.IsRunning, Is.True, "the sender still runs, waiting out the outage");
            });
        }
        finally
        {
            sender.Dispose();
        }
    }
}
