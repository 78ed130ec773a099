namespace Keybrake.Client.Tests;

/// <summary>
/// The loop breaker's table of fingerprints stays bounded over a long run, and is swept in amortised constant
/// time: with more than the sweep threshold live, it used to sweep (and copy) the whole table on every call.
/// Counts of live entries and of sweeps, not timings.
/// </summary>
public sealed class LoopBreakerBoundedMemoryTests
{
    private const int Calls = 1_000_000;

    [Test]
    public void A_million_distinct_requests_over_many_windows_keep_the_table_within_twice_what_is_live()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var tracker = new RepeatTracker();
        var window = TimeSpan.FromSeconds(60);

        // 50 ms a call: 1,200 distinct fingerprints live in any window, more than the sweep threshold.
        const int LiveInAWindow = 1_200;
        var most = 0;
        for (var call = 0; call < Calls; call++)
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            Assert.That(tracker.TryRecord(new UInt128(0, (ulong)call), null, time.GetTimestamp(), maxRepeats: 3, window, time), Is.True);
            most = Math.Max(most, tracker.Count);
        }

        Assert.Multiple(() =>
        {
            Assert.That(most, Is.LessThanOrEqualTo(2 * LiveInAWindow + 1), "the table holds at most about twice what one window has live");

            // 50,000 s of calls: a sweep per doubling, not one per call once the threshold is passed.
            Assert.That(tracker.Sweeps, Is.LessThan(Calls / 1_000), "a sweep per doubling of the table, not one per call");
            Assert.That(tracker.Sweeps, Is.GreaterThan(0));
        });
    }
}
