namespace Keybrake.Client.Tests;

public sealed class LoopBreakerTests
{
    [Test]
    public void MaxRepeats_identical_requests_pass_and_the_next_is_a_loop()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 3);

        var outcomes = harness.CheckMany(4, fingerprint: 42);

        Assert.That(outcomes, Is.EqualTo(new[] { null, null, null, ReasonCodes.LoopDetected }));
    }

    [Test]
    public void A_different_request_is_not_a_repeat()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 3);
        harness.CheckMany(4, fingerprint: 42);

        Assert.That(harness.Check(fingerprint: 43), Is.Null);
    }

    [Test]
    public void A_retry_with_the_same_idempotency_key_is_not_a_repeat()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 3);

        var retries = Enumerable.Range(0, 10).Select(_ => harness.Check(fingerprint: 42, idempotencyKey: "idem-1")).ToArray();
        var freshKeys = Enumerable.Range(2, 3).Select(i => harness.Check(fingerprint: 42, idempotencyKey: $"idem-{i}")).ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(retries, Is.All.Null, "ten retries of one call count once");
            Assert.That(freshKeys, Is.EqualTo(new[] { null, null, ReasonCodes.LoopDetected }), "a loop that mints a new key each time is still a loop");
        });
    }

    [Test]
    public void Reads_are_never_counted()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 1);

        Assert.That(harness.CheckMany(100, fingerprint: null), Is.All.Null);
    }

    [Test]
    public void MaxRepeats_zero_turns_the_breaker_off()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 0);

        Assert.That(harness.CheckMany(100, fingerprint: 42), Is.All.Null);
    }

    [Test]
    public void A_loop_is_allowed_again_once_its_requests_leave_the_window()
    {
        var harness = new LimiterHarness(policy => { policy.LoopBreaker.MaxRepeats = 2; policy.LoopBreaker.Window = TimeSpan.FromSeconds(30); });
        harness.CheckMany(3, fingerprint: 42);

        harness.Time.Advance(TimeSpan.FromSeconds(30));

        Assert.That(harness.Check(fingerprint: 42), Is.Null);
    }

    [Test]
    public void A_loop_that_keeps_hammering_stays_denied_until_it_pauses_for_a_window()
    {
        var harness = new LimiterHarness(policy => { policy.LoopBreaker.MaxRepeats = 3; policy.LoopBreaker.Window = TimeSpan.FromMinutes(1); });
        harness.CheckMany(3, fingerprint: 42);
        var hammering = new List<string?>();
        for (var i = 0; i < 30; i++)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(10));
            hammering.Add(harness.Check(fingerprint: 42));
        }

        harness.Time.Advance(TimeSpan.FromMinutes(1));
        var afterPause = harness.Check(fingerprint: 42);

        Assert.Multiple(() =>
        {
            Assert.That(hammering, Is.All.EqualTo(ReasonCodes.LoopDetected), "five minutes of a call every 10 s, each one denied");
            Assert.That(afterPause, Is.Null);
        });
    }
}
