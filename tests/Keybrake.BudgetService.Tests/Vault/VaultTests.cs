using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Secrets;
using Keybrake.BudgetService.Tests.Replicas;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Vault;

/// <summary>
/// The vault through the service's own API, on both engines: an operator sets and rotates a key's vendor secret, a
/// guard's credential fetches it, the store holds it sealed only, and a rotation reaches the key event streams.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class VaultTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_noon = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task A_secret_set_and_rotated_by_the_operator_is_delivered_to_a_credential_of_the_key_with_its_version()
    {
        var first = VaultSettings.NewSecret();
        var second = VaultSettings.NewSecret();
        var time = new FakeTimeProvider(s_noon);
        await using var service = await TestService.StartAsync(engine, VaultSettings.With(VaultSettings.MasterKeyA, "agent", "other"), time);
        var (guard, _) = await service.ClientForAsync("fleet", "agent");

        var none = Assert.ThrowsAsync<RpcException>(async () => await guard.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" }));
        var set = await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = first });
        var delivered = await guard.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });
        time.Advance(TimeSpan.FromMinutes(1));
        var rotated = await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = second, OverlapSeconds = 300 });
        var afterRotation = await guard.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });
        var shown = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var listed = await service.Admin.ListKeysAsync(new ListKeysRequest());

        Assert.Multiple(() =>
        {
            Assert.That(none!.StatusCode, Is.EqualTo(StatusCode.NotFound), "no secret yet");
            Assert.That((set.SecretVersion, set.SecretSetAt, set.PreviousSecretValidUntil), Is.EqualTo((1L, "2026-03-10T12:00:00.0000000Z", "")));
            Assert.That((delivered.KeyId, delivered.Secret, delivered.Version), Is.EqualTo(("agent", first, 1L)));
            Assert.That((rotated.SecretVersion, rotated.SecretSetAt, rotated.PreviousSecretValidUntil), Is.EqualTo((2L, "2026-03-10T12:01:00.0000000Z", "2026-03-10T12:06:00.0000000Z")));
            Assert.That((afterRotation.Secret, afterRotation.Version), Is.EqualTo((second, 2L)));
            Assert.That(shown.SecretVersion, Is.EqualTo(2L));
            Assert.That(listed.Keys.Select(k => (k.KeyId, k.SecretVersion)), Is.SupersetOf(new[] { ("agent", 2L), ("other", 0L) }));
            Assert.That(shown.ToString() + listed + set + rotated, Does.Not.Contain(first).And.Not.Contain(second), "no admin reply holds a secret");
        });
    }

    [Test]
    public async Task A_credential_outside_the_keys_scope_is_refused_its_secret_and_the_refusal_is_audited_under_the_key()
    {
        var secret = VaultSettings.NewSecret();
        await using var service = await TestService.StartAsync(engine, VaultSettings.With(VaultSettings.MasterKeyA, "a", "b"));
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "b", Secret = secret });
        var (scopedToA, _) = await service.ClientForAsync("fleet-a", "a");

        var refused = Assert.ThrowsAsync<RpcException>(async () => await scopedToA.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "b" }));
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "b" });

        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(refused.Status.Detail, Does.Contain("'b'").And.Contain("'fleet-a'").And.Not.Contain(secret));
            Assert.That(audit.Records.Select(r => (r.KeyId, r.Vendor, r.Decision, r.Reason, r.ClientId, r.Method)),
                Is.EqualTo(new[] { ("b", "stripe", "deny", ReasonCodes.SecretRefused, "fleet-a", "GetVendorSecret") }));
            Assert.That(audit.Records.Single().Parameters["peer"], Is.Not.Empty, "where the caller called from");
            Assert.That(audit.ToString(), Does.Not.Contain(secret));
        });
    }

    [Test]
    public async Task The_database_files_never_hold_the_plaintext_after_a_set_and_a_rotation_nor_does_the_log()
    {
        var first = VaultSettings.NewSecret();
        var second = VaultSettings.NewSecret();
        var logs = new CapturingLoggerProvider();
        await using var service = await TestService.StartAsync(
            engine,
            VaultSettings.With(VaultSettings.MasterKeyA, "agent"),
            configure: builder => builder.Logging.AddProvider(logs).AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace));
        // A control: the credential's id is stored as plain text, so the scan below must find it.
        var clientId = "fleet-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        var (guard, _) = await service.ClientForAsync(clientId, "agent");
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = first });
        await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = second, OverlapSeconds = 600 });
        var delivered = await guard.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });

        string folder;
        if (engine == StoreEngine.PostgreSql)
        {
            // Everything on disk: the tables' files after a checkpoint, and the write-ahead log that carried each write.
            var cluster = await PostgresCluster.SharedAsync();
            await using var connection = new NpgsqlConnection(cluster.ConnectionString());
            await connection.OpenAsync();
            await using var checkpoint = new NpgsqlCommand("CHECKPOINT", connection);
            await checkpoint.ExecuteNonQueryAsync();
            folder = cluster.DataDirectory;
        }
        else
        {
            folder = service.Host.Directory; // budget.db, budget.db-wal, budget.db-shm, the admin token
        }

        var sealedRows = await service.Host.Services.GetRequiredService<IKeyStore>().ReadSecretsAsync("agent", s_noon, CancellationToken.None);
        var logged = string.Join('\n', logs.Logs.Select(l => l.Message + l.Exception));
        Assert.Multiple(() =>
        {
            Assert.That(delivered.Secret, Is.EqualTo(second), "the secret was stored and opens");
            Assert.That(sealedRows.Select(s => s.Version), Is.EqualTo(new[] { 2L, 1L }), "both are in the store, sealed");
            Assert.That(SecretScan.InFiles(folder, [clientId]), Is.Not.Empty, "the scan reads the store's files");
            Assert.That(SecretScan.InFiles(folder, [first]), Is.Empty, "the first secret in plaintext");
            Assert.That(SecretScan.InFiles(folder, [second]), Is.Empty, "the second secret in plaintext");
            Assert.That(logged, Does.Contain($"Delivered the vendor secret of key 'agent' (version 2) to client '{clientId}'"));
            Assert.That(logged, Does.Not.Contain(first).And.Not.Contain(second));
        });
    }

    [Test]
    public async Task A_rotation_reaches_a_key_event_stream_as_SECRET_CHANGED_with_the_new_version_and_the_snapshot_carries_it()
    {
        await using var service = await TestService.StartAsync(engine, VaultSettings.With(VaultSettings.MasterKeyA, "agent"));
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (call, events) = Replica.Watch(service.Budget, cancel.Token, "agent");
        using var watch = call;
        var snapshot = await events.NextAsync();

        // The stream confirms what it receives, so the rotation's reply can say it was applied.
        var rotating = service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() }).ResponseAsync;
        var changed = await events.NextAsync();
        await service.Budget.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = snapshot.SubscriberId, Sequence = changed.Sequence });
        var rotated = await rotating;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Keys.Single().SecretVersion, Is.EqualTo(1L));
            Assert.That((changed.Kind, changed.Keys.Single().KeyId, changed.Keys.Single().SecretVersion), Is.EqualTo((KeyEventKind.SecretChanged, "agent", 2L)));
            Assert.That((rotated.Delivery.Processes, rotated.Delivery.Confirmed), Is.EqualTo((1, 1)));
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_call_carrying_the_previous_secret_is_authorized_inside_the_overlap_window_and_denied_secret_rotated_after_it()
    {
        var time = new FakeTimeProvider(s_noon);
        await using var service = await TestService.StartAsync(engine, VaultSettings.With(VaultSettings.MasterKeyA, "agent"), time);
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() });
        await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret(), OverlapSeconds = 60 });

        var insideWindow = await service.Budget.AuthorizeAsync(WithSecret(Authorize("agent", 1), 1));
        time.Advance(TimeSpan.FromSeconds(60));
        var afterWindow = await service.Budget.AuthorizeAsync(WithSecret(Authorize("agent", 1), 1));
        var current = await service.Budget.AuthorizeAsync(WithSecret(Authorize("agent", 1), 2));
        var own = await service.Budget.AuthorizeAsync(Authorize("agent", 1));
        await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() });
        var noOverlap = await service.Budget.AuthorizeAsync(WithSecret(Authorize("agent", 1), 2));
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var revoked = await service.Budget.AuthorizeAsync(WithSecret(Authorize("agent", 1), 2));

        Assert.Multiple(() =>
        {
            Assert.That(insideWindow.Allowed, Is.True, insideWindow.Message);
            Assert.That((afterWindow.Allowed, afterWindow.Reason), Is.EqualTo((false, ReasonCodes.SecretRotated)));
            Assert.That(afterWindow.Message, Is.EqualTo("the vendor secret of key 'agent' was rotated to version 2; version 1 is no longer accepted (its overlap window has closed)"));
            Assert.That((current.Allowed, own.Allowed), Is.EqualTo((true, true)), "the current secret, and a process's own (version 0)");
            Assert.That((noOverlap.Allowed, noOverlap.Reason), Is.EqualTo((false, ReasonCodes.SecretRotated)), "a rotation without overlap ends the previous secret at once");
            Assert.That((revoked.Allowed, revoked.Reason), Is.EqualTo((false, ReasonCodes.KeyRevoked)), "a revoked key is not sent to fetch a new secret");
        });
    }

    [Test]
    public async Task Pruning_erases_a_previous_secret_once_its_overlap_window_has_closed_and_not_before()
    {
        var time = new FakeTimeProvider(s_noon);
        await using var service = await TestService.StartAsync(engine, VaultSettings.With(VaultSettings.MasterKeyA, "agent"), time);
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() });
        await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret(), OverlapSeconds = 3600 });
        var keys = service.Host.Services.GetRequiredService<IKeyStore>();
        var pruning = service.Host.Services.GetRequiredService<RecordPruning>();

        await pruning.RunAsync(CancellationToken.None);
        var beforeEnd = await keys.ReadSecretsAsync("agent", s_noon, CancellationToken.None);
        time.Advance(TimeSpan.FromHours(1));
        var shownAtEnd = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        await pruning.RunAsync(CancellationToken.None);
        var afterEnd = await keys.ReadSecretsAsync("agent", s_noon, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(beforeEnd.Select(s => s.Version), Is.EqualTo(new[] { 2L, 1L }));
            Assert.That(shownAtEnd.PreviousSecretValidUntil, Is.Empty, "no window is open any more");
            Assert.That(afterEnd.Select(s => s.Version), Is.EqualTo(new[] { 2L }), "read as of before the window closed: erased, not hidden");
        });
    }

    private static AuthorizeRequest WithSecret(AuthorizeRequest request, long version)
    {
        request.SecretVersion = version;
        return request;
    }
}
