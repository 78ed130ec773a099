using Grpc.Core;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>Budget leases through the real service and real gRPC clients, on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class LeaseServiceTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_noon = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A key that leases at most $2 a slice, for 30 s (automatically unless <paramref name="enabled"/> says).</summary>
    internal static Dictionary<string, string?> LeasingKey(string keyId, string dailyCap, string? runCap = null, string? enabled = null)
    {
        var settings = BudgetServiceHost.Key(keyId, dailyCap, runCap);
        settings[$"BudgetService:Keys:{keyId}:Policy:Lease:MaxSlice"] = "2";
        settings[$"BudgetService:Keys:{keyId}:Policy:Lease:Ttl"] = "00:00:30";

        // Left out, the key leases automatically (the service grants; the guard decides when to ask).
        settings.Remove($"BudgetService:Keys:{keyId}:Policy:Lease:Enabled");
        if (enabled is not null)
        {
            settings[$"BudgetService:Keys:{keyId}:Policy:Lease:Enabled"] = enabled;
        }

        return settings;
    }

    internal static LeaseRequest Lease(string keyId, string holder, decimal dollars, string? leaseId = null, long sequence = 1, string runId = "") => new()
    {
        KeyId = keyId,
        RunId = runId,
        LeaseId = leaseId ?? "lse_" + Guid.NewGuid().ToString("N"),
        Sequence = sequence,
        RequestedMicroUsd = Dollars(dollars),
        Holder = holder,
    };

    internal static LeasedCall Leased(string leaseId, string keyId, decimal estimate, string? reservationId = null) => new()
    {
        LeaseId = leaseId,
        ReservationId = reservationId ?? "rsv_" + Guid.NewGuid().ToString("N"),
        KeyId = keyId,
        IdempotencyKey = NewIdempotencyKey(),
        RequestHash = Hash(1),
        EstimateMicroUsd = Dollars(estimate),
        DecidedAtUnixMicros = s_noon.ToUnixTimeMilliseconds() * 1000,
    };

    [Test]
    public async Task Slices_are_a_fair_share_above_the_tail_and_the_last_part_goes_call_by_call()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(LeasingKey("agent", "100"), LeasingKey("manual", "100", enabled: "false")));
        await using var a = await LeaseStream.OpenAsync(service.Budget, "agent");
        await using var b = await LeaseStream.OpenAsync(service.Budget, "agent");

        var first = await service.Budget.LeaseAsync(Lease("agent", a.Holder, 5));
        var second = await service.Budget.LeaseAsync(Lease("agent", b.Holder, 5));
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var big = await service.Budget.AuthorizeAsync(Authorize("agent", 94));
        var near = await service.Budget.LeaseAsync(Lease("agent", a.Holder, 5));
        var manual = await service.Budget.LeaseAsync(Lease("manual", a.Holder, 5));
        var noStream = await service.Budget.LeaseAsync(Lease("agent", string.Empty, 5));
        var strangerStream = await service.Budget.LeaseAsync(Lease("agent", "sub_" + new string('0', 32), 5));
        var (scoped, _) = await service.ClientForAsync("scoped", "manual");
        var outside = Assert.ThrowsAsync<RpcException>(async () => await scoped.LeaseAsync(Lease("agent", a.Holder, 5)));
        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.LeaseAsync(Lease("agent", a.Holder, 5, sequence: 0)));
        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((first.Granted, first.GrantedMicroUsd, first.TtlMilliseconds, first.Day), Is.EqualTo((true, Dollars(2), 30_000L, "2026-03-10")));
            Assert.That(first.ExpiresAtUnixMicros, Is.EqualTo(s_noon.AddSeconds(30).ToUnixTimeMilliseconds() * 1000));
            Assert.That((second.Granted, second.GrantedMicroUsd), Is.EqualTo((true, Dollars(2))));
            Assert.That((key.LeasedMicroUsd, key.StrandedMicroUsd), Is.EqualTo((Dollars(4), 0L)));
            Assert.That(big.Allowed, Is.True, "leases count as reserved: $4 + $94 fits");
            Assert.That((near.Granted, near.Reason), Is.EqualTo((false, "near_cap")));
            Assert.That((manual.Granted, manual.Reason), Is.EqualTo((false, "not_leasing")));
            Assert.That((noStream.Granted, noStream.Reason), Is.EqualTo((false, "no_stream")));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(98)));
            Assert.That(outside!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "sequence must be 1 or more")));
        });
        if (engine == StoreEngine.Sqlite)
        {
            Assert.That((strangerStream.Granted, strangerStream.Reason), Is.EqualTo((false, "no_stream")), "a single process knows every stream");
        }
    }

    [Test]
    public async Task Leased_calls_and_their_settlements_keep_the_books_within_the_cap_and_a_retried_grant_counts_once()
    {
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"));
        await using var stream = await LeaseStream.OpenAsync(service.Budget, "agent");
        var request = Lease("agent", stream.Holder, 2);
        var grant = await service.Budget.LeaseAsync(request);
        var retry = await service.Budget.LeaseAsync(request);
        var afterGrant = await service.TodayAsync("agent");

        var call = Leased(request.LeaseId, "agent", 1.5m);
        var settle = new SettleRequest { LeasedCalls = { call }, Settlements = { Commit(call.ReservationId, 1.2m) } };
        var settled = await service.Budget.SettleAsync(settle);
        var again = await service.Budget.SettleAsync(new SettleRequest { LeasedCalls = { call } });
        var afterCalls = await service.TodayAsync("agent");

        // The rest of the cap call by call: $10 - $1.20 settled - $0.50 still leased = $8.30.
        var fits = await service.Budget.AuthorizeAsync(Authorize("agent", 8.3m));
        var over = await service.Budget.AuthorizeAsync(Authorize("agent", 0.01m));
        var returned = await service.Budget.SettleAsync(new SettleRequest { ReturnedLeases = { request.LeaseId } });
        var returnedEvent = await stream.NextAsync(KeyEventKind.LeaseReturned);
        var afterReturn = await service.TodayAsync("agent");
        var now = await service.Budget.AuthorizeAsync(Authorize("agent", 0.5m));
        Assert.Multiple(() =>
        {
            Assert.That(retry, Is.EqualTo(grant));
            Assert.That(afterGrant.ReservedMicroUsd, Is.EqualTo(Dollars(2)), "granted once");
            Assert.That((settled.LeasedCallsRecorded, settled.Changed), Is.EqualTo((1, 1)), "the leased call first, then its settlement in the same request");
            Assert.That(again.LeasedCallsRecorded, Is.Zero);
            Assert.That((afterCalls.SettledMicroUsd, afterCalls.ReservedMicroUsd), Is.EqualTo((Dollars(1.2m), Dollars(0.5m))));
            Assert.That((fits.Allowed, over.Allowed, over.Reason), Is.EqualTo((true, false, "daily_cap_exceeded")));
            Assert.That((over.LeasesRecalled, over.RecallWaitMilliseconds), Is.EqualTo((true, 2000L)), "the lease still held $0.50");
            Assert.That(returned.Changed, Is.Zero);
            Assert.That((returnedEvent.Keys.Single().KeyId, returnedEvent.RunId), Is.EqualTo(("agent", "")));
            Assert.That(afterReturn.ReservedMicroUsd, Is.EqualTo(Dollars(8.3m)), "the return freed the $0.50");
            Assert.That(now.Allowed, Is.True);
        });
        Assert.That(afterReturn.SettledMicroUsd + afterReturn.ReservedMicroUsd, Is.LessThanOrEqualTo(Dollars(10)));
    }

    [Test]
    public async Task A_denial_at_the_cap_recalls_the_leases_over_the_stream()
    {
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"));
        await using var holder = await LeaseStream.OpenAsync(service.Budget, "agent");
        var grant = await service.Budget.LeaseAsync(Lease("agent", holder.Holder, 2));
        await service.Budget.AuthorizeAsync(Authorize("agent", 7));
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 2));
        var recall = await holder.NextAsync(KeyEventKind.LeasesRecalled);
        Assert.Multiple(() =>
        {
            Assert.That(grant.GrantedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That((denied.Allowed, denied.Reason, denied.LeasesRecalled, denied.RecallWaitMilliseconds), Is.EqualTo((false, "daily_cap_exceeded", true, 2000L)));
            Assert.That((recall.Keys.Single().KeyId, recall.RunId), Is.EqualTo(("agent", "")));
        });
    }

    [Test]
    public async Task A_lease_expires_after_its_ttl_and_frees_what_it_held()
    {
        var time = new FakeTimeProvider(s_noon);
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"), time);
        await using var stream = await LeaseStream.OpenAsync(service.Budget, "agent");
        var grant = await service.Budget.LeaseAsync(Lease("agent", stream.Holder, 2));
        var held = await service.TodayAsync("agent");

        time.Advance(TimeSpan.FromSeconds(31));
        var freed = await Poll.UntilAsync(() => service.TodayAsync("agent"), spend => spend.ReservedMicroUsd == 0);
        var returned = await stream.NextAsync(KeyEventKind.LeaseReturned);
        var listed = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        Assert.Multiple(() =>
        {
            Assert.That(grant.Granted, Is.True);
            Assert.That(held.ReservedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(freed.ReservedMicroUsd, Is.Zero);
            Assert.That(returned.Keys.Single().KeyId, Is.EqualTo("agent"));
            Assert.That(listed.Leases.Select(l => (l.State, l.OutstandingMicroUsd)), Is.EqualTo(new[] { ("expired", 0L) }));
            Assert.That(listed.OutstandingMicroUsd, Is.Zero);
        });
    }

    [Test]
    public async Task Revoking_a_key_voids_its_leases_at_once()
    {
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"));
        await using var stream = await LeaseStream.OpenAsync(service.Budget, "agent");
        await service.Budget.LeaseAsync(Lease("agent", stream.Holder, 2));

        var revoked = await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var revokedEvent = await stream.NextAsync(KeyEventKind.Revoked);
        var returned = await stream.NextAsync(KeyEventKind.LeaseReturned);
        var today = await service.TodayAsync("agent");
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var refused = await service.Budget.LeaseAsync(Lease("agent", stream.Holder, 2));
        var listed = await service.Admin.ListLeasesAsync(new ListLeasesRequest { IncludeEnded = true });
        Assert.Multiple(() =>
        {
            Assert.That(revoked.Revoked, Is.True);
            Assert.That(revokedEvent.Keys.Single().Revoked, Is.True);
            Assert.That(returned.Keys.Single().Revoked, Is.True, "the event carries the key's state as announced");
            Assert.That(today.ReservedMicroUsd, Is.Zero);
            Assert.That(key.LeasedMicroUsd, Is.Zero);
            Assert.That((refused.Granted, refused.Reason), Is.EqualTo((false, "revoked")));
            Assert.That(listed.Leases.Single().State, Is.EqualTo("voided"));
        });
    }

    [Test]
    public async Task A_lease_whose_holder_s_stream_ended_is_shown_stranded()
    {
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"));
        await using var stream = await LeaseStream.OpenAsync(service.Budget, "agent");
        await using var other = await LeaseStream.OpenAsync(service.Budget, "agent");
        var gone = Lease("agent", stream.Holder, 2);
        await service.Budget.LeaseAsync(gone);
        await service.Budget.LeaseAsync(Lease("agent", other.Holder, 1));

        await stream.DisposeAsync();
        var listed = await Poll.UntilAsync(
            async () => await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent" }),
            reply => reply.StrandedMicroUsd > 0 && reply.Leases.Any(l => l.Stranded)); // the list and the sums are two reads
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var keys = await service.Admin.ListKeysAsync(new ListKeysRequest());

        // The process comes back on a new stream and tops its lease up: it holds it again.
        await using var back = await LeaseStream.OpenAsync(service.Budget, "agent");
        await service.Budget.LeaseAsync(Lease("agent", back.Holder, 0.5m, gone.LeaseId, sequence: 2));
        var after = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent" });
        Assert.Multiple(() =>
        {
            Assert.That((listed.OutstandingMicroUsd, listed.StrandedMicroUsd), Is.EqualTo((Dollars(3), Dollars(2))));
            Assert.That(listed.Leases.Single(l => l.LeaseId == gone.LeaseId).Stranded, Is.True);
            Assert.That(listed.Leases.Single(l => l.LeaseId == gone.LeaseId).Holder, Does.StartWith("host/1/test at "));
            Assert.That((key.LeasedMicroUsd, key.StrandedMicroUsd), Is.EqualTo((Dollars(3), Dollars(2))));
            Assert.That(keys.Keys.Single(k => k.KeyId == "agent").StrandedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(after.StrandedMicroUsd, Is.Zero);
        });
    }

    [Test]
    public async Task ListLeases_needs_the_admin_token_and_refuses_a_bad_limit()
    {
        await using var service = await TestService.StartAsync(engine, LeasingKey("agent", "10"));
        var anonymous = Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.ListLeasesAsync(new ListLeasesRequest()));
        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ListLeasesAsync(new ListLeasesRequest { Limit = 1001 }));
        Assert.Multiple(() =>
        {
            Assert.That(anonymous!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        });
    }
}
