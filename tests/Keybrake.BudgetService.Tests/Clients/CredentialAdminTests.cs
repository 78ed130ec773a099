using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Clients;

/// <summary>Issuing, listing and revoking client credentials through the admin API, and what a revocation does at once.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class CredentialAdminTests(StoreEngine engine)
{
    [Test]
    public async Task A_credential_is_shown_once_stored_as_a_hash_and_listed_without_its_token()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("refund-agent", "100"));

        var issued = await service.Admin.CreateClientAsync(new CreateClientRequest { ClientId = "fleet-a", KeyIds = { "refund-agent", "sms-agent" } });
        var listed = await service.Admin.ListClientsAsync(new ListClientsRequest());
        var again = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateClientAsync(new CreateClientRequest { ClientId = "fleet-a", KeyIds = { "refund-agent" } }));
        var stored = await StoreFile.CountAsync(service, "SELECT COUNT(*) FROM client_credential WHERE client_id = 'fleet-a' AND token_sha256 = $hash", ("$hash", SHA256.HashData(Encoding.UTF8.GetBytes(issued.Token))));
        var plaintext = await StoreFile.CountAsync(service, $"SELECT COUNT(*) FROM client_credential WHERE CAST(token_sha256 AS TEXT) = '{issued.Token}' OR key_ids LIKE '%{issued.Token}%'");
        var works = await BudgetServiceHost.BudgetClient(service.Channel, issued.Token).AuthorizeAsync(Authorize("refund-agent", 5));

        var fleet = listed.Clients.Single(c => c.ClientId == "fleet-a");
        Assert.Multiple(() =>
        {
            Assert.That(issued.Token, Does.StartWith("kbc_").And.Length.EqualTo(47));
            Assert.That((fleet.KeyIds, fleet.Revoked, fleet.Source), Is.EqualTo((new[] { "refund-agent", "sms-agent" }, false, "admin")));
            Assert.That(listed.ToString(), Does.Not.Contain(issued.Token), "the list never carries a token");
            Assert.That(listed.Clients.Select(c => c.ClientId), Does.Contain(BudgetServiceHost.ClientId), "credentials from configuration are listed too");
            Assert.That(again!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
            Assert.That((stored, plaintext), Is.EqualTo((1L, 0L)), "only the SHA-256 of the token is stored");
            Assert.That(works.Allowed, Is.True);
        });
    }

    [TestCase("", "refund-agent", "client_id '' must be 1 to 64 letters, digits, '-', '_' or '.'")]
    [TestCase("fleet a", "refund-agent", "client_id 'fleet a' must be 1 to 64 letters, digits, '-', '_' or '.'")]
    [TestCase("fleet-a", "", "key_ids must name at least one key (or \"*\" for every key), or integrations an intake integration (\"litellm\")")]
    [TestCase("fleet-a", "a/b", "key id 'a/b' must be 1 to 64 letters, digits, '-', '_' or '.' (or \"*\" for every key)")]
    public async Task A_bad_credential_request_is_refused_with_a_one_line_reason(string clientId, string keys, string expected)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("refund-agent", "100"));
        var request = new CreateClientRequest { ClientId = clientId };
        request.KeyIds.AddRange(keys.Split(',', StringSplitOptions.RemoveEmptyEntries));

        var refused = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateClientAsync(request));

        Assert.That((refused!.StatusCode, refused.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, expected)));
    }

    [Test]
    public async Task Revoking_a_credential_refuses_its_calls_at_once_and_ends_its_key_event_streams()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));
        var (revoked, _) = await service.ClientForAsync("fleet-a", "a");
        var (other, _) = await service.ClientForAsync("fleet-b", "b");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var watch = revoked.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
        using var otherWatch = other.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
        Assert.That(await watch.ResponseStream.MoveNext(cancel.Token), Is.True, "the snapshot");
        Assert.That(await otherWatch.ResponseStream.MoveNext(cancel.Token), Is.True, "the snapshot");
        var pending = await revoked.AuthorizeAsync(Authorize("a", 30));

        var info = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });

        // Right after the revoke returns: the money path refuses the credential.
        var authorize = Assert.ThrowsAsync<RpcException>(async () => await revoked.AuthorizeAsync(Authorize("a", 1)));
        var settle = Assert.ThrowsAsync<RpcException>(async () => await revoked.SettleAsync(new SettleRequest { Settlements = { Commit(pending.ReservationId, 0) } }));

        // The open stream carried the revocation and then ends with the refusal (heartbeats may come between),
        // without the client asking.
        var kinds = new List<KeyEventKind>();
        var ended = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await watch.ResponseStream.MoveNext(cancel.Token))
            {
                kinds.Add(watch.ResponseStream.Current.Kind);
            }
        });
        var otherStillServed = await other.AuthorizeAsync(Authorize("b", 1));
        var listed = (await service.Admin.ListClientsAsync(new ListClientsRequest())).Clients.Single(c => c.ClientId == "fleet-a");

        Assert.Multiple(() =>
        {
            Assert.That((info.Revoked, info.RevokedAt), Is.EqualTo((true, "2026-03-10T12:00:00.0000000Z")));
            Assert.That((authorize!.StatusCode, authorize.Status.Detail), Is.EqualTo((StatusCode.Unauthenticated, "client credential 'fleet-a' is revoked")));
            Assert.That(settle!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That((ended!.StatusCode, ended.Status.Detail), Is.EqualTo((StatusCode.Unauthenticated, "client credential 'fleet-a' is revoked")));
            Assert.That(kinds.Where(kind => kind != KeyEventKind.Heartbeat), Is.EqualTo(new[] { KeyEventKind.ClientRevoked }));
            Assert.That((info.Delivery.Processes, info.Delivery.Confirmed), Is.EqualTo((1, 0)), "the stream did not confirm, and the reply says so");
            Assert.That(otherStillServed.Allowed, Is.True, "other credentials are untouched");
            Assert.That(listed.Revoked, Is.True);
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task Revoking_a_credential_waits_for_its_streams_to_confirm_and_names_the_one_that_did_not()
    {
        // The bound is what the call waits for the silent stream; it is long enough that the confirming stream's
        // confirmation, sent by this test, arrives within it even on a loaded machine.
        var settings = BudgetServiceHost.Key("a", "100");
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:05";
        await using var service = await TestService.StartAsync(engine, settings);
        var (fleet, _) = await service.ClientForAsync("fleet-a", "a");
        var (other, _) = await service.ClientForAsync("fleet-b", "a");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var confirming = fleet.WatchKeys(new WatchKeysRequest { SubscriberName = "web-1/101/Fleet.Agent" }, cancellationToken: cancel.Token);
        using var silent = fleet.WatchKeys(new WatchKeysRequest { SubscriberName = "web-2/202/Fleet.Agent" }, cancellationToken: cancel.Token);
        using var otherWatch = other.WatchKeys(new WatchKeysRequest { SubscriberName = "web-3/303/Other.Agent" }, cancellationToken: cancel.Token);
        var events = confirming.ResponseStream.ReadAllAsync(cancel.Token).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(cancel.Token);
        await events.MoveNextAsync();
        var subscriberId = events.Current.SubscriberId;
        Assert.That(await silent.ResponseStream.MoveNext(cancel.Token), Is.True, "the snapshot");
        Assert.That(await otherWatch.ResponseStream.MoveNext(cancel.Token), Is.True, "the snapshot");

        var revoking = service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" }, cancellationToken: cancel.Token).ResponseAsync;
        await events.MoveNextAsync();
        var revocation = events.Current;

        // While the revoke waits, the revoked credential may confirm the revocation on its own stream, and nothing else.
        var authorize = Assert.ThrowsAsync<RpcException>(async () => await fleet.AuthorizeAsync(Authorize("a", 1)));
        var earlier = Assert.ThrowsAsync<RpcException>(async () => await fleet.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = revocation.Sequence - 1 }));
        var byAnother = await other.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = revocation.Sequence });
        var confirmed = await fleet.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = revocation.Sequence });
        var info = await revoking;
        var afterwards = Assert.ThrowsAsync<RpcException>(async () => await fleet.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = revocation.Sequence }));
        var ended = Assert.ThrowsAsync<RpcException>(async () => await events.MoveNextAsync());
        var otherStillServed = await other.AuthorizeAsync(Authorize("a", 1));

        Assert.Multiple(() =>
        {
            Assert.That((revocation.Kind, revocation.ClientId, revocation.Keys.Count), Is.EqualTo((KeyEventKind.ClientRevoked, "fleet-a", 0)));
            Assert.That(revocation.Sequence, Is.Positive);
            Assert.That(authorize!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "refused while the revoke waits for confirmations");
            Assert.That(earlier!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "a revoked credential confirms the revocation, nothing before it");
            Assert.That(byAnother.Known, Is.False, "another credential cannot confirm this credential's stream");
            Assert.That(confirmed.Known, Is.True);
            Assert.That((info.Revoked, info.Delivery.Processes, info.Delivery.Confirmed), Is.EqualTo((true, 2, 1)), "two streams with this credential; the other credential's stream is neither sent nor waited on");
            Assert.That(info.Delivery.Unconfirmed.Single(), Does.StartWith("web-2/202/Fleet.Agent at "), "the silent stream is named");
            Assert.That(afterwards!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "once the revoke returned, the stream is gone and so is the last call");
            Assert.That((ended!.StatusCode, ended.Status.Detail), Is.EqualTo((StatusCode.Unauthenticated, "client credential 'fleet-a' is revoked")));
            Assert.That(otherStillServed.Allowed, Is.True);
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_stream_revoked_while_the_service_writes_to_it_still_ends_with_the_refusal()
    {
        // A snapshot many times larger than the HTTP/2 flow-control window and the server's response buffer, which
        // this test does not read until the revoke has returned: the service cannot finish writing it before then,
        // so the revocation ends the stream during a write, every time.
        var settings = BudgetServiceHost.Key("a", "100");
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:01";
        await using var service = await TestService.StartAsync(engine, settings);
        var (fleet, _) = await service.ClientForAsync("fleet-a", "*");
        var watched = Enumerable.Range(0, 8_000).Select(i => $"key-{i:D5}-".PadRight(60, 'x')).ToList();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var watch = fleet.WatchKeys(new WatchKeysRequest { SubscriberName = "web-1/101/Fleet.Agent", KeyIds = { watched } }, cancellationToken: cancel.Token);
        await watch.ResponseHeadersAsync; // the service has begun writing the snapshot

        var info = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" }, cancellationToken: cancel.Token);
        var snapshotKeys = 0;
        var ended = Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await watch.ResponseStream.MoveNext(cancel.Token))
            {
                if (watch.ResponseStream.Current.Kind == KeyEventKind.Snapshot)
                {
                    snapshotKeys = watch.ResponseStream.Current.Keys.Count;
                }
            }
        });

        Assert.Multiple(() =>
        {
            Assert.That(info.Delivery.Processes, Is.EqualTo(1), "the stream was open when the credential was revoked");
            Assert.That(snapshotKeys, Is.EqualTo(watched.Count), "the write under way finished");
            Assert.That((ended!.StatusCode, ended.Status.Detail), Is.EqualTo((StatusCode.Unauthenticated, "client credential 'fleet-a' is revoked")), "the refusal, not a reset stream");
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_revocation_outlives_a_restart_and_an_unknown_credential_cannot_be_revoked()
    {
        await using var first = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        var (_, token) = await first.ClientForAsync("fleet-a", "a");
        await first.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });
        var unknown = Assert.ThrowsAsync<RpcException>(async () => await first.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "nobody" }));
        await first.StopAsync();

        await using var second = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"), postgres: first.Postgres, directory: first.Host.Directory);
        var refused = Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(second.Channel, token).PingAsync(new PingRequest()));

        Assert.Multiple(() =>
        {
            Assert.That(unknown!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        });
    }

    [Test]
    public async Task The_REST_paths_issue_list_and_revoke_credentials_behind_the_admin_token()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("refund-agent", "100"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };

        using var anonymous = await http.PostAsync("/v1/clients", new StringContent("""{"clientId":"fleet-a","keyIds":["refund-agent"]}""", Encoding.UTF8, "application/json"));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        using var created = await http.PostAsync("/v1/clients", new StringContent("""{"clientId":"fleet-a","keyIds":["refund-agent"]}""", Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        var listed = await http.GetStringAsync("/v1/clients");
        using var revoked = await http.PostAsync("/v1/clients/fleet-a/revoke", new StringContent("{}", Encoding.UTF8, "application/json"));
        var revokedBody = JsonDocument.Parse(await revoked.Content.ReadAsStringAsync()).RootElement;

        Assert.Multiple(() =>
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(body.GetProperty("token").GetString(), Does.StartWith("kbc_"));
            Assert.That(body.GetProperty("client").GetProperty("keyIds")[0].GetString(), Is.EqualTo("refund-agent"));
            Assert.That(listed, Does.Contain("\"fleet-a\"").And.Not.Contain(body.GetProperty("token").GetString()!));
            Assert.That(revokedBody.GetProperty("revoked").GetBoolean(), Is.True);
            Assert.That(revokedBody.TryGetProperty("delivery", out _), Is.True, "the REST answer says which processes confirmed (none streams here)");
        });
    }

    [Test]
    public async Task A_credential_declared_in_configuration_is_accepted_by_the_hash_of_its_token()
    {
        const string Token = "kbc_declaredInConfiguration0123456789abcdefAB";
        var settings = TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100"), new Dictionary<string, string?>
        {
            ["BudgetService:Clients:declared:TokenSha256"] = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Token))),
            ["BudgetService:Clients:declared:Keys:0"] = "a",
        });
        await using var service = await TestService.StartAsync(engine, settings);
        var client = BudgetServiceHost.BudgetClient(service.Channel, Token);

        var allowed = await client.AuthorizeAsync(Authorize("a", 1));
        var outside = Assert.ThrowsAsync<RpcException>(async () => await client.AuthorizeAsync(Authorize("b", 1)));

        Assert.Multiple(() =>
        {
            Assert.That(allowed.Allowed, Is.True);
            Assert.That(outside!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        });
    }
}
