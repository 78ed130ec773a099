using Microsoft.Extensions.Time.Testing;

namespace Keybrake.Client.Tests;

public sealed class RateLimitTests
{
    [Test]
    public void Within_a_minute_the_allowed_number_of_calls_pass_and_the_next_is_rate_limited()
    {
        var harness = new LimiterHarness(policy => { policy.RequestsPerMinute = 5; policy.LoopBreaker.MaxRepeats = 0; });

        var outcomes = harness.CheckMany(6, fingerprint: null);

        Assert.That(outcomes, Is.EqualTo(new[] { null, null, null, null, null, ReasonCodes.RateLimited }));
    }

    [Test]
    public void The_window_slides_each_call_frees_its_slot_one_minute_after_it_was_made()
    {
        var harness = new LimiterHarness(policy => { policy.RequestsPerMinute = 3; policy.LoopBreaker.MaxRepeats = 0; });
        var at0 = harness.Check(null);
        harness.Time.Advance(TimeSpan.FromSeconds(20));
        var at20 = harness.Check(null);
        harness.Time.Advance(TimeSpan.FromSeconds(20));
        var at40 = harness.Check(null);
        harness.Time.Advance(TimeSpan.FromSeconds(19));
        var at59 = harness.Check(null);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        var at60 = harness.Check(null);
        var at60Again = harness.Check(null);
        harness.Time.Advance(TimeSpan.FromSeconds(20));
        var at80 = harness.Check(null);

        Assert.Multiple(() =>
        {
            Assert.That(new[] { at0, at20, at40 }, Is.All.Null);
            Assert.That(at59, Is.EqualTo(ReasonCodes.RateLimited), "three calls in the last minute");
            Assert.That(at60, Is.Null, "the call at 0 s left the window");
            Assert.That(at60Again, Is.EqualTo(ReasonCodes.RateLimited), "the calls at 20, 40 and 60 s are in the window");
            Assert.That(at80, Is.Null, "the call at 20 s left the window");
        });
    }

    [Test]
    public void Denied_calls_do_not_use_up_the_next_minute()
    {
        var harness = new LimiterHarness(policy => { policy.RequestsPerMinute = 2; policy.LoopBreaker.MaxRepeats = 0; });
        harness.CheckMany(2, fingerprint: null);
        var denied = harness.CheckMany(50, fingerprint: null);

        harness.Time.Advance(TimeSpan.FromMinutes(1));
        var afterAMinute = harness.CheckMany(2, fingerprint: null);

        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.All.EqualTo(ReasonCodes.RateLimited));
            Assert.That(afterAMinute, Is.All.Null);
        });
    }

    [Test]
    public void Without_a_rate_limit_any_number_of_reads_pass()
    {
        var harness = new LimiterHarness(policy => policy.LoopBreaker.MaxRepeats = 0);

        Assert.That(harness.CheckMany(1_000, fingerprint: null), Is.All.Null);
    }

    [Test]
    public void The_rate_limit_is_counted_per_key()
    {
        var options = new KeybrakePolicyOptions { DailyCap = Usd.FromDollars(1), RequestsPerMinute = 1 };
        var policy = KeyPolicy.Compile("a", options);
        var limiter = new CallLimiter(new FakeTimeProvider());
        var keyA = new ResolvedKey("a", TestVendorProfile.Name, "s", policy);
        var keyB = new ResolvedKey("b", TestVendorProfile.Name, "s", policy);

        var a = limiter.Check(keyA, null, null);
        var b = limiter.Check(keyB, null, null);
        var aAgain = limiter.Check(keyA, null, null);

        Assert.Multiple(() =>
        {
            Assert.That(a, Is.Null);
            Assert.That(b, Is.Null);
            Assert.That(aAgain?.Reason, Is.EqualTo(ReasonCodes.RateLimited));
        });
    }
}
