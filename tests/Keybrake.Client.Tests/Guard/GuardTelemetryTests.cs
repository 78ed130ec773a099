using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Keybrake.Client.Tests;

/// <summary>Listens to process-wide telemetry, so every assertion filters by this fixture's own vendor name.</summary>
public sealed class GuardTelemetryTests
{
    [Test]
    public async Task The_decisions_counter_counts_each_call_with_vendor_decision_and_reason_tags()
    {
        var decisions = new ConcurrentQueue<(long Value, string? Decision, string? Reason)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == KeybrakeTelemetry.Name && instrument.Name == "keybrake.guard.decisions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var tagged = tags.ToArray().ToDictionary(t => t.Key, t => t.Value as string);
            if (tagged.GetValueOrDefault("vendor") == TelemetryVendorProfile.Name)
            {
                decisions.Enqueue((value, tagged.GetValueOrDefault("decision"), tagged.GetValueOrDefault("reason")));
            }
        });
        listener.Start();
        await using var host = GuardHost.Start<TelemetryVendorProfile>(TelemetryVendorProfile.Name, policy => policy.Endpoints.Deny.Add("DELETE /**"));
        using var client = host.Client();

        using (var allowed = await host.SpendAsync(100))
        using (var denied = await client.DeleteAsync("/v1/items/it_1"))
        {
        }

        Assert.That(decisions, Is.EqualTo(new (long, string?, string?)[]
        {
            (1, "allow", null),
            (1, "deny", ReasonCodes.EndpointNotAllowed),
        }));
    }

    [Test]
    public async Task Each_call_is_a_keybrake_guard_activity_tagged_with_its_decision()
    {
        var activities = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == KeybrakeTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("keybrake.vendor") as string == TelemetryVendorProfile.Name)
                {
                    activities.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var host = GuardHost.Start<TelemetryVendorProfile>(TelemetryVendorProfile.Name, policy => policy.Endpoints.Deny.Add("DELETE /**"));
        using var client = host.Client();

        using (KeybrakeRun.Begin("run_traced"))
        using (var allowed = await host.SpendAsync(100))
        using (var denied = await client.DeleteAsync("/v1/items/it_1"))
        {
        }

        var seen = activities.ToArray();
        Assert.That(seen, Has.Length.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(seen.Select(a => a.OperationName), Is.All.EqualTo("keybrake.guard"));
            Assert.That(seen[0].GetTagItem("keybrake.decision"), Is.EqualTo("allow"));
            Assert.That(seen[0].GetTagItem("keybrake.key_id"), Is.EqualTo(GuardHost.KeyId));
            Assert.That(seen[0].GetTagItem("keybrake.run_id"), Is.EqualTo("run_traced"));
            Assert.That(seen[0].GetTagItem("keybrake.estimate_micro_usd"), Is.EqualTo(1_000_000L));
            Assert.That(seen[0].GetTagItem("http.response.status_code"), Is.EqualTo(200));
            Assert.That(seen[0].Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(seen[1].GetTagItem("keybrake.decision"), Is.EqualTo("deny"));
            Assert.That(seen[1].GetTagItem("keybrake.reason"), Is.EqualTo(ReasonCodes.EndpointNotAllowed));
            Assert.That(seen[1].Status, Is.EqualTo(ActivityStatusCode.Error));
        });
    }
}
