using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.FakeBudget;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests.Vault;

/// <summary>
/// Central mode with the vendor secret held by the budget service: the guard fetches it on first use, keeps it in
/// memory, follows the key event stream's rotations and revocations, and retries once on <c>secret_rotated</c>. The
/// real Stripe.net client goes through the guard to a WireMock stand-in whose received <c>Authorization</c> headers
/// are checked; the service is a hand-written fake on a real Kestrel port.
/// </summary>
public sealed class VaultSecretTests
{
    private const string KeyId = VaultStripeHost.KeyId;
    private const string FirstSecret = "sk_test_51VaultFirstSecretHeldByTheService0001";
    private const string SecondSecret = "sk_test_51VaultSecondSecretAfterRotation000002";
    private const string LocalSecret = "sk_test_51LocalSecretFromTheProcessConfig00003";

    [Test]
    public async Task Without_a_vendor_secret_configured_the_charge_reaches_the_vendor_with_the_services_secret_and_never_the_brake_key()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);

        var denied = await host.ChargeAsync(1200);

        var charge = stub.Received.Single(r => r.Path == "/v1/charges");
        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.Null);
            Assert.That(charge.Headers["Authorization"], Is.EqualTo("Bearer " + FirstSecret));
            Assert.That(stub.Received.Select(r => r.Headers["Authorization"]), Has.None.Contains(VaultStripeHost.BrakeKey));
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(1));
            Assert.That(service.State.Authorizations.Single().SecretVersion, Is.EqualTo(1), "Authorize names the secret's version");
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.True);
        });
    }

    [Test]
    public async Task A_vendor_secret_in_the_process_configuration_wins_and_the_service_is_never_asked_for_one()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub, localSecret: LocalSecret);

        var denied = await host.ChargeAsync(1200);

        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.Null);
            Assert.That(stub.Received.Single(r => r.Path == "/v1/charges").Headers["Authorization"], Is.EqualTo("Bearer " + LocalSecret));
            Assert.That(service.State.SecretRequests(KeyId), Is.Zero);
            Assert.That(service.State.Authorizations.Single().SecretVersion, Is.Zero, "a secret of the process's own has no service version");
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.False);
        });
    }

    [Test]
    public async Task Twenty_concurrent_first_calls_make_one_request_for_the_secret_and_all_carry_it()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        var gate = service.State.HoldNextSecretReply();

        var charges = Enumerable.Range(1, 20).Select(i => host.ChargeAsync(100 + i)).ToList();
        await gate.Entered.WaitAsync(Poll.DefaultTimeout);

        // Every call is waiting for the one fetch under way before it is let go.
        var waiting = await Poll.UntilAsync(() => host.Ledger.Secrets.Waiting, count => count == 20);
        gate.Release();
        var denials = await Task.WhenAll(charges);

        Assert.Multiple(() =>
        {
            Assert.That(waiting, Is.EqualTo(20));
            Assert.That(denials, Has.All.Null);
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(1));
            Assert.That(stub.Received.Where(r => r.Path == "/v1/charges").Select(r => r.Headers["Authorization"]), Has.Exactly(20).EqualTo("Bearer " + FirstSecret));
        });
    }

    [Test]
    public async Task After_SECRET_CHANGED_new_calls_carry_the_new_secret_while_a_call_already_resolved_finishes_with_the_old_one()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500, "warm-up"), Is.Null);

        // A call past key resolution, held at Authorize: it carries version 1.
        var gate = service.State.HoldAuthorize(request => request.IdempotencyKey == "in-flight");
        var inFlight = host.ChargeAsync(700, "in-flight");
        await gate.Entered.WaitAsync(Poll.DefaultTimeout);

        var rotation = service.State.RotateSecret(KeyId, SecondSecret);
        var applied = await service.State.WaitForAcknowledgementAsync(rotation);
        var heldAfterEvent = host.Ledger.HoldsSecret(KeyId);
        var after = await host.ChargeAsync(900, "after-rotation");
        gate.Release();
        var held = await inFlight;

        Assert.Multiple(() =>
        {
            Assert.That(applied, Is.True, "the guard confirmed the event");
            Assert.That(heldAfterEvent, Is.False, "the old secret is dropped before the event is confirmed");
            Assert.That((after, held), Is.EqualTo(((VaultStripeHost.Denied?)null, (VaultStripeHost.Denied?)null)));
            Assert.That(AuthorizationOf(stub, "after-rotation"), Is.EqualTo("Bearer " + SecondSecret));
            Assert.That(AuthorizationOf(stub, "in-flight"), Is.EqualTo("Bearer " + FirstSecret));
            Assert.That(host.Ledger.Secrets.HeldVersion(KeyId), Is.EqualTo(2));
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task A_fetch_answered_with_the_old_secret_after_a_SECRET_CHANGED_is_discarded_and_fetched_again()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        var gate = service.State.HoldNextSecretReply();

        // The first call's fetch takes version 1 at the service, and its answer is held on the way back.
        var first = host.ChargeAsync(300, "racing");
        await gate.Entered.WaitAsync(Poll.DefaultTimeout);
        Assert.That(await service.State.WaitForSubscriberAsync(), Is.True);
        var rotation = service.State.RotateSecret(KeyId, SecondSecret);
        Assert.That(await service.State.WaitForAcknowledgementAsync(rotation), Is.True);
        gate.Release();

        Assert.Multiple(async () =>
        {
            Assert.That(await first, Is.Null);
            Assert.That(AuthorizationOf(stub, "racing"), Is.EqualTo("Bearer " + SecondSecret), "the call carries the version the event announced");
            Assert.That(host.Ledger.Secrets.HeldVersion(KeyId), Is.EqualTo(2), "version 1 was never kept");
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task A_snapshot_after_a_reconnect_naming_a_newer_secret_version_drops_the_held_one()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500, "before"), Is.Null);
        Assert.That(await service.State.WaitForSubscriberAsync(), Is.True);

        // Rotated while no event reached this process; the stream then ends, and the new one starts with a snapshot.
        service.State.SetSecret(KeyId, SecondSecret);
        service.State.EndStreams();
        var dropped = await Poll.UntilAsync(() => host.Ledger.HoldsSecret(KeyId), held => !held);
        var denied = await host.ChargeAsync(600, "after");

        Assert.Multiple(() =>
        {
            Assert.That(dropped, Is.False, "the snapshot's version 2 dropped version 1");
            Assert.That(denied, Is.Null);
            Assert.That(AuthorizationOf(stub, "after"), Is.EqualTo("Bearer " + SecondSecret));
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task A_secret_rotated_denial_fetches_the_new_secret_once_and_the_charge_goes_out_with_it()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500, "before"), Is.Null);

        // Rotated at the service with no event reaching this process, and past the overlap window.
        service.State.SetSecret(KeyId, SecondSecret);
        service.State.RefuseSecretVersionsBelow(KeyId, 2);
        var denied = await host.ChargeAsync(800, "after");

        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.Null);
            Assert.That(AuthorizationOf(stub, "after"), Is.EqualTo("Bearer " + SecondSecret));
            Assert.That(service.State.Authorizations.Where(a => a.IdempotencyKey == "after").Select(a => a.SecretVersion), Is.EqualTo(new long[] { 1, 2 }), "asked once more, same idempotency key, new version");
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(2));
            Assert.That(host.Logs.Logs.Select(l => l.EventId.Id), Has.Member(330));
        });
    }

    [Test]
    public async Task A_second_secret_rotated_denial_stands_and_nothing_reaches_the_vendor()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500, "before"), Is.Null);
        service.State.SetSecret(KeyId, SecondSecret);
        service.State.RefuseSecretVersionsBelow(KeyId, 99);

        var denied = await host.ChargeAsync(800, "refused");

        Assert.Multiple(() =>
        {
            Assert.That(denied?.Reason, Is.EqualTo(ReasonCodes.SecretRotated));
            Assert.That(service.State.Authorizations.Count(a => a.IdempotencyKey == "refused"), Is.EqualTo(2), "one retry only");
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(1), "only the first charge");
            Assert.That(denied?.Text, Does.Not.Contain(FirstSecret).And.Not.Contain(SecondSecret));
        });
    }

    [Test]
    public async Task Revoking_the_key_drops_its_secret_and_restoring_it_fetches_again_on_next_use()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500), Is.Null);
        var heldBefore = host.Ledger.HoldsSecret(KeyId);

        var revoked = await service.State.WaitForAcknowledgementAsync(service.State.Revoke(KeyId));
        var heldWhileRevoked = host.Ledger.HoldsSecret(KeyId);
        var deniedWhileRevoked = await host.ChargeAsync(600);
        var restored = await service.State.WaitForAcknowledgementAsync(service.State.Restore(KeyId));
        var heldAfterRestore = host.Ledger.HoldsSecret(KeyId);
        var afterRestore = await host.ChargeAsync(700);

        Assert.Multiple(() =>
        {
            Assert.That((revoked, restored), Is.EqualTo((true, true)));
            Assert.That((heldBefore, heldWhileRevoked, heldAfterRestore), Is.EqualTo((true, false, false)));
            Assert.That(deniedWhileRevoked?.Reason, Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(deniedWhileRevoked?.Text, Does.Not.Contain(FirstSecret));
            Assert.That(afterRestore, Is.Null);
            Assert.That(service.State.SecretRequests(KeyId), Is.EqualTo(2), "fetched again after the restore");
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.True);
        });
    }

    [Test]
    public async Task Revoking_the_client_credential_drops_every_secret()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub);
        Assert.That(await host.ChargeAsync(500), Is.Null);
        var countBefore = host.Ledger.Secrets.Count;

        var applied = await service.State.WaitForAcknowledgementAsync(service.State.RevokeClient());

        Assert.Multiple(() =>
        {
            Assert.That(applied, Is.True);
            Assert.That(countBefore, Is.EqualTo(1));
            Assert.That(host.Ledger.Secrets.Count, Is.Zero);
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.False);
        });
    }

    [Test]
    public async Task With_the_service_unreachable_on_first_use_calls_are_denied_budget_service_unavailable_and_nothing_reaches_the_vendor()
    {
        using var stub = StripeStub.Start();
        var service = await StartServiceAsync();
        var address = service.Address;
        await service.DisposeAsync();
        await using var host = VaultStripeHost.Start(address, stub);

        var charge = await host.ChargeAsync(500);
        var read = await host.ReadChargeAsync("ch_unseen");

        Assert.Multiple(() =>
        {
            Assert.That(charge?.Reason, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(read?.Reason, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable), "a read has no secret to send either");
            Assert.That(charge?.Text, Does.Contain($"fetch the vendor secret of key '{KeyId}'"));
            Assert.That(stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_secret_already_held_keeps_serving_reads_and_the_emergency_allowance_through_an_outage()
    {
        using var stub = StripeStub.Start();
        var service = await StartServiceAsync();
        await using var host = VaultStripeHost.Start(service.Address, stub, budgetService: o => o.EmergencyAllowance = Usd.FromDollars(50));
        Assert.That(await host.ChargeAsync(500), Is.Null);
        var chargeId = stub.Received.Single(r => r.Path == "/v1/charges").Status == 200 ? ChargeIds(stub).Single() : null;
        await service.DisposeAsync();

        var read = await host.ReadChargeAsync(chargeId!);
        var charge = await host.ChargeAsync(700);

        Assert.Multiple(() =>
        {
            Assert.That(read, Is.Null, "reads follow ReadsDuringOutage (allow)");
            Assert.That(charge, Is.Null, "a charge within the emergency allowance");
            Assert.That(stub.Received.Select(r => r.Headers["Authorization"]), Has.All.EqualTo("Bearer " + FirstSecret));
            Assert.That(stub.Received, Has.Count.EqualTo(3));
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.True, "a stale stream drops nothing");
        });
    }

    [Test]
    public async Task A_refusal_of_the_secret_denies_secret_refused_with_the_services_reason()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        service.State.RefuseSecret(KeyId, $"client credential 'test-clients' is not scoped to key '{KeyId}'");
        await using var host = VaultStripeHost.Start(service.Address, stub);

        var denied = await host.ChargeAsync(500);

        Assert.Multiple(() =>
        {
            Assert.That(denied?.Reason, Is.EqualTo(ReasonCodes.SecretRefused));
            Assert.That(denied?.Text, Does.Contain("is not scoped to key"));
            Assert.That(stub.Received, Is.Empty);
            Assert.That(host.Ledger.HoldsSecret(KeyId), Is.False);
        });
    }

    [Test]
    public async Task A_service_holding_no_secret_for_the_key_denies_key_unknown_in_one_line()
    {
        using var stub = StripeStub.Start();
        await using var service = await FakeBudgetService.StartAsync(new FakeBudgetState().AddKey(KeyId));
        await using var host = VaultStripeHost.Start(service.Address, stub);

        var denied = await host.ChargeAsync(500);

        Assert.Multiple(() =>
        {
            Assert.That(denied?.Reason, Is.EqualTo(ReasonCodes.KeyUnknown));
            Assert.That(denied?.Text, Does.Contain($"the budget service holds no vendor secret for key '{KeyId}' and the process has none configured"));
            Assert.That(stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task No_log_line_audit_record_outbox_file_or_denial_holds_a_fetched_secret()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync();
        service.State.AuditUnavailable = true; // the records stay in the outbox file
        var texts = new List<string>();
        long outboxRecords;
        string[] outboxFiles;
        await using (var host = VaultStripeHost.Start(service.Address, stub))
        {
            Assert.That(await host.ChargeAsync(500, "one"), Is.Null);
            Assert.That(await service.State.WaitForAcknowledgementAsync(service.State.RotateSecret(KeyId, SecondSecret)), Is.True);
            Assert.That(await host.ChargeAsync(600, "two"), Is.Null);
            service.State.SetSecret(KeyId, "sk_test_51ThirdSecretNeverFetchedAtAll0000004");
            service.State.RefuseSecretVersionsBelow(KeyId, 99);
            var denied = await host.ChargeAsync(700, "three");
            Assert.That(denied?.Reason, Is.EqualTo(ReasonCodes.SecretRotated));
            texts.Add(denied!.Text);

            outboxRecords = await Poll.UntilAsync(() => TestUtilities.Outbox.OutboxFileSet.Records(Path.Combine(host.Folder, "outbox.db")), count => count >= 3);
            texts.AddRange(host.Logs.Logs.Select(l => l.Message + " " + l.Exception));
            texts.AddRange(host.Audit.Records.Select(r => System.Text.Json.JsonSerializer.Serialize(r)));
            // The SQLite files (with their journal); the lock file is held exclusively and is empty.
            outboxFiles = Directory.GetFiles(host.Folder).Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)).ToArray();
            texts.AddRange(outboxFiles.Select(f => System.Text.Encoding.UTF8.GetString(ReadShared(f))));
        }

        Assert.Multiple(() =>
        {
            Assert.That(outboxRecords, Is.GreaterThanOrEqualTo(3), "the outbox holds the records it was searched for");
            Assert.That(outboxFiles, Has.Some.EndsWith(".db"));
            Assert.That(stub.Received.Select(r => r.Headers["Authorization"]), Is.EqualTo(new[] { "Bearer " + FirstSecret, "Bearer " + SecondSecret }));
            Assert.That(texts, Has.None.Contains(FirstSecret).And.None.Contains(SecondSecret).And.None.Contains("sk_test_51ThirdSecret"));
            Assert.That(texts, Has.Some.Contains($"Key '{KeyId}': vendor secret version 1 fetched"), "the logs were captured");
        });
    }

    private static async Task<FakeBudgetService> StartServiceAsync()
    {
        var state = new FakeBudgetState().AddKey(KeyId);
        state.SetSecret(KeyId, FirstSecret);
        return await FakeBudgetService.StartAsync(state);
    }

    /// <summary>The Authorization header of the charge POST with the idempotency key.</summary>
    private static string? AuthorizationOf(StripeStub stub, string idempotencyKey) =>
        stub.Received.SingleOrDefault(r => r.Path == "/v1/charges" && r.Headers.TryGetValue("Idempotency-Key", out var key) && key == idempotencyKey)?.Headers["Authorization"];

    private static IEnumerable<string> ChargeIds(StripeStub stub) =>
        stub.Server.LogEntries
            .Where(e => e.RequestMessage.Path == "/v1/charges")
            .Select(e => System.Text.Json.JsonDocument.Parse(e.ResponseMessage.BodyData!.BodyAsString!).RootElement.GetProperty("id").GetString()!);

    private static byte[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
