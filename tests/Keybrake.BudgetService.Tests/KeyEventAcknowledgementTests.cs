using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Keybrake.BudgetService.Keys;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// A revocation returns once every process on the key event stream confirmed it applied it, or once the bound has
/// passed; the reply counts the confirmations and names the processes that did not confirm.
/// </summary>
public sealed class KeyEventAcknowledgementTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(1);

    [Test]
    public async Task The_wait_ends_when_every_watcher_has_confirmed_without_waiting_for_the_bound()
    {
        var clock = new FakeTimeProvider();
        var hub = new KeyEventHub(s_bound, clock);
        using var a = hub.Subscribe("host/1/agent", keys: null);
        using var b = hub.Subscribe("host/2/agent", new HashSet<string> { "k" });
        using var elsewhere = hub.Subscribe("host/3/other", new HashSet<string> { "other-key" });

        var published = hub.Publish(Revoked("k"));
        var confirming = hub.ConfirmAsync(published, CancellationToken.None);
        var afterOne = confirming.IsCompleted;
        hub.Acknowledge(a.Id, published.Sequence);
        hub.Acknowledge(b.Id, published.Sequence + 5); // a later sequence confirms the earlier ones too
        var delivery = await confirming;

        Assert.Multiple(() =>
        {
            Assert.That(afterOne, Is.False, "no confirmation yet");
            Assert.That((delivery.Processes, delivery.Confirmed), Is.EqualTo((2, 2)), "the watcher of another key is not waited for");
            Assert.That(delivery.Unconfirmed, Is.Empty);
            Assert.That(a.Events.TryRead(out var sent) ? sent.Sequence : 0, Is.EqualTo(published.Sequence));
            Assert.That(elsewhere.Events.TryRead(out _), Is.False);
        });
    }

    [Test]
    public async Task A_watcher_that_never_confirms_is_named_once_the_bound_has_passed()
    {
        var clock = new FakeTimeProvider();
        var hub = new KeyEventHub(s_bound, clock);
        using var confirms = hub.Subscribe("host/1/agent", keys: null);
        using var silent = hub.Subscribe("host/2/stuck", keys: null);

        var published = hub.Publish(Revoked("k"));
        var confirming = hub.ConfirmAsync(published, CancellationToken.None);
        hub.Acknowledge(confirms.Id, published.Sequence);
        clock.Advance(s_bound - TimeSpan.FromMilliseconds(1));
        var beforeTheBound = confirming.IsCompleted;
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var delivery = await confirming;

        Assert.Multiple(() =>
        {
            Assert.That(beforeTheBound, Is.False, "it waits for the bound");
            Assert.That((delivery.Processes, delivery.Confirmed), Is.EqualTo((2, 1)));
            Assert.That(delivery.Unconfirmed, Is.EqualTo(new[] { "host/2/stuck" }));
            Assert.That(delivery.WaitedMs, Is.EqualTo(1000));
        });
    }

    [Test]
    public async Task A_credential_revocation_goes_to_that_credentials_streams_and_each_may_confirm_it_once()
    {
        var clock = new FakeTimeProvider();
        var hub = new KeyEventHub(s_bound, clock);
        using var confirms = hub.Subscribe("host/1/agent", keys: null, clientId: "fleet-a");
        using var silent = hub.Subscribe("host/2/stuck", keys: null, clientId: "fleet-a");
        using var other = hub.Subscribe("host/3/other", keys: null, clientId: "fleet-b");

        var published = hub.PublishClientRevoked("fleet-a");
        var confirming = hub.ConfirmAsync(published, CancellationToken.None);
        var sent = confirms.Events.TryRead(out var revocation);
        var otherSent = other.Events.TryRead(out _);
        var byOtherCredential = hub.AcknowledgeRevocation(confirms.Id, published.Sequence, "fleet-b");
        var otherStream = hub.AcknowledgeRevocation(other.Id, published.Sequence, "fleet-b");
        var tooEarly = hub.AcknowledgeRevocation(confirms.Id, published.Sequence - 1, "fleet-a");
        var accepted = hub.AcknowledgeRevocation(confirms.Id, published.Sequence, "fleet-a");
        var twice = hub.AcknowledgeRevocation(confirms.Id, published.Sequence, "fleet-a");
        clock.Advance(s_bound);
        var delivery = await confirming;
        var afterTheBound = hub.AcknowledgeRevocation(silent.Id, published.Sequence, "fleet-a");

        Assert.Multiple(() =>
        {
            Assert.That((sent, revocation?.Kind, revocation?.ClientId), Is.EqualTo((true, KeyEventKind.ClientRevoked, "fleet-a")));
            Assert.That(otherSent, Is.False, "another credential's stream is not sent the event");
            Assert.That((byOtherCredential, otherStream, tooEarly, twice), Is.EqualTo((false, false, false, false)), "only the stream's own credential, only the revocation, only once");
            Assert.That(accepted, Is.True);
            Assert.That((delivery.Processes, delivery.Confirmed), Is.EqualTo((2, 1)));
            Assert.That(delivery.Unconfirmed, Is.EqualTo(new[] { "host/2/stuck" }));
            Assert.That(afterTheBound, Is.False, "once the call has returned, the revoked credential can confirm nothing");
        });
    }

    [Test]
    public async Task A_watcher_whose_stream_ends_is_named_and_not_waited_for()
    {
        var hub = new KeyEventHub(s_bound, new FakeTimeProvider());
        using var confirms = hub.Subscribe("host/1/agent", keys: null);
        var leaving = hub.Subscribe("host/2/leaving", keys: null);

        var published = hub.Publish(Revoked("k"));
        var confirming = hub.ConfirmAsync(published, CancellationToken.None);
        hub.Acknowledge(confirms.Id, published.Sequence);
        leaving.Dispose();
        var delivery = await confirming;

        Assert.Multiple(() =>
        {
            Assert.That((delivery.Processes, delivery.Confirmed), Is.EqualTo((2, 1)));
            Assert.That(delivery.Unconfirmed, Is.EqualTo(new[] { "host/2/leaving (stream closed)" }));
            Assert.That(hub.Acknowledge(leaving.Id, published.Sequence), Is.False, "a closed stream confirms nothing");
        });
    }

    [Test]
    public async Task Over_REST_the_revocation_says_who_confirmed_and_names_the_process_that_did_not()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var confirming = service.Budget.WatchKeys(new WatchKeysRequest { SubscriberName = "web-1/101/Billing.Agent" }, cancellationToken: cancel.Token);
        using var silent = service.Budget.WatchKeys(new WatchKeysRequest { SubscriberName = "web-2/202/Billing.Agent" }, cancellationToken: cancel.Token);
        var events = confirming.ResponseStream.ReadAllAsync(cancel.Token).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(cancel.Token);
        var silentEvents = silent.ResponseStream.ReadAllAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        await events.MoveNextAsync();
        var subscriberId = events.Current.SubscriberId;
        await silentEvents.MoveNextAsync(); // both streams are open once their snapshots arrived
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);

        using var content = new StringContent("{}", Encoding.UTF8, "application/json");
        var revoking = http.PostAsync("/v1/keys/agent/revoke", content, cancel.Token);
        await events.MoveNextAsync();
        var revoked = events.Current;
        var known = await service.Budget.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = revoked.Sequence });
        using var response = await revoking;
        var delivery = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel.Token)).RootElement.GetProperty("delivery");

        Assert.Multiple(() =>
        {
            Assert.That(subscriberId, Does.Match("^sub_[0-9a-f]{32}$"));
            Assert.That(revoked.Kind, Is.EqualTo(KeyEventKind.Revoked));
            Assert.That(revoked.Sequence, Is.Positive);
            Assert.That(known.Known, Is.True);
            Assert.That(delivery.GetProperty("processes").GetInt32(), Is.EqualTo(2));
            Assert.That(delivery.GetProperty("confirmed").GetInt32(), Is.EqualTo(1));
            Assert.That(delivery.GetProperty("unconfirmed").EnumerateArray().Select(n => n.GetString()), Has.Exactly(1).StartsWith("web-2/202/Billing.Agent at ipv"));
            Assert.That(long.Parse(delivery.GetProperty("waitedMs").ToString(), System.Globalization.CultureInfo.InvariantCulture), Is.Positive, "the reply says how long it waited (the bound's own timing is the fake-clock test's)");
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_restoration_and_a_policy_change_wait_for_confirmations_too()
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:KeyEventAckTimeout"] = "00:00:00.200" });
        await using var service = await TestService.StartAsync(settings);
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var silent = service.Budget.WatchKeys(new WatchKeysRequest { SubscriberName = "web-3/303/Agent" }, cancellationToken: cancel.Token);
        var events = silent.ResponseStream.ReadAllAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        await events.MoveNextAsync(); // the snapshot: the stream is open

        var restored = await service.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var changed = await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 5 } });

        Assert.Multiple(() =>
        {
            foreach (var reply in new[] { restored, changed })
            {
                Assert.That((reply.Delivery.Processes, reply.Delivery.Confirmed), Is.EqualTo((1, 0)));
                Assert.That(reply.Delivery.Unconfirmed, Has.Exactly(1).StartsWith("web-3/303/Agent at "));
                Assert.That(reply.Delivery.WaitedMs, Is.Positive);
            }
        });

        await cancel.CancelAsync();
    }

    [Test]
    public void A_name_with_control_characters_is_not_shown_as_given()
    {
        Assert.That(SubscriberNames.Of("evil\nname", "ipv4:127.0.0.1:5000"), Is.EqualTo("unnamed process at ipv4:127.0.0.1:5000"));
        Assert.That(SubscriberNames.Of(new string('a', 201), "ipv4:127.0.0.1:5000"), Is.EqualTo("unnamed process at ipv4:127.0.0.1:5000"));
        Assert.That(SubscriberNames.Of("web-1/42/Agent", "ipv4:127.0.0.1:5000"), Is.EqualTo("web-1/42/Agent at ipv4:127.0.0.1:5000"));
    }

    private static KeyEvent Revoked(string keyId) => new() { Kind = KeyEventKind.Revoked, Keys = { new WatchedKey { KeyId = keyId, Known = true, Revoked = true } } };
}
