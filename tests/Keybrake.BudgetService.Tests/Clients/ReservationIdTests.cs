using System.Globalization;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Clients;

/// <summary>A reservation id is all it takes to settle a reservation: it cannot be worked out from another one.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class ReservationIdTests(StoreEngine engine)
{
    [Test]
    public async Task A_reservation_id_cannot_be_guessed_from_the_ids_around_it()
    {
        // A sibling credential with the same key in scope (a compromised process of the same fleet, say): scopes
        // cannot stop it, so the id itself must.
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var (attacker, _) = await service.ClientForAsync("compromised", "agent");
        var (victim, _) = await service.ClientForAsync("fleet", "agent");

        // One $0 Authorize shows the attacker the layout of an id; the victim's $50 call comes right after.
        var probe = await attacker.AuthorizeAsync(Authorize("agent", 0));
        var pending = await victim.AuthorizeAsync(Authorize("agent", 50));

        // The attack that worked on ids of milliseconds, a per-process nonce and a counter: the same nonce, the
        // next counters, the next second of milliseconds. Then one COMMIT at $0 of every guess.
        var guesses = Guesses(probe.ReservationId).ToList();
        var settle = new SettleRequest();
        settle.Settlements.AddRange(guesses.Select(id => Commit(id, 0)));
        var changed = await attacker.SettleAsync(settle);
        var today = await service.TodayAsync("agent");

        var random = pending.ReservationId["rsv_".Length..][12..];
        Assert.Multiple(() =>
        {
            Assert.That(guesses, Has.Count.EqualTo(2_000));
            Assert.That(guesses, Does.Not.Contain(pending.ReservationId));
            Assert.That(changed.Changed, Is.Zero, "no guess settled anything");
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(50)), "the victim's $50 is still reserved");
            Assert.That(random, Has.Length.EqualTo(32).And.Match("^[0-9a-f]{32}$"), "128 random bits after the time");
            Assert.That(random, Is.Not.EqualTo(probe.ReservationId["rsv_".Length..][12..]));
        });
    }

    private static IEnumerable<string> Guesses(string seen)
    {
        var body = seen["rsv_".Length..];
        var milliseconds = long.Parse(body[..12], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var nonce = body.Length >= 20 ? body[12..20] : "00000000";
        var counter = body.Length >= 32 ? long.Parse(body[20..32], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : 0;
        for (var ms = 0; ms < 1_000; ms++)
        {
            for (var next = 1; next <= 2; next++)
            {
                yield return $"rsv_{milliseconds + ms:x12}{nonce}{counter + next:x12}";
            }
        }
    }
}
