using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Clients;

/// <summary>Every Budget RPC refuses a caller without a client credential in force, before it does anything.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class CredentialRequiredTests(StoreEngine engine)
{
    /// <summary>Each RPC of the Budget service, called as a caller without the right credential would.</summary>
    public static IEnumerable<TestCaseData> EveryRpc()
    {
        foreach (var (name, token) in new[] { ("no credential", (string?)null), ("a wrong credential", "kbc_notOneTheServiceIssued0123456789abcdefAB"), ("the admin token", BudgetServiceHost.AdminToken) })
        {
            foreach (var (rpc, call) in Rpcs())
            {
                yield return new TestCaseData(rpc, token, call).SetName($"{rpc} with {name} is refused");
            }
        }
    }

    [TestCaseSource(nameof(EveryRpc))]
    public async Task A_call_without_a_valid_credential_is_Unauthenticated_and_changes_nothing(string rpc, string? token, Func<Protocol.Budget.BudgetClient, Task> call)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var caller = BudgetServiceHost.BudgetClient(service.Channel, token);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 40));

        var refused = Assert.ThrowsAsync<RpcException>(() => call(caller));

        var today = await service.TodayAsync("agent");
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "agent" });
        var found = await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "agent", Vendor = "stripe", ObjectId = "ch_forged1" });
        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), rpc);
            Assert.That(refused.Status.Detail, Does.Not.Contain("notOneTheServiceIssued").And.Not.Contain(BudgetServiceHost.AdminToken), "the presented token is not echoed");
            Assert.That((today.ReservedMicroUsd, today.SettledMicroUsd), Is.EqualTo((Dollars(40), 0L)), "the held reservation is untouched");
            Assert.That(audit.Records, Is.Empty, "no record was stored");
            Assert.That(found.Found, Is.False, "no object was planted");
            Assert.That(held.Allowed, Is.True);
        });
    }

    [Test]
    public async Task The_credential_is_checked_on_the_money_path_before_the_request_is_read()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var anonymous = BudgetServiceHost.BudgetClient(service.Channel, token: null);

        // An invalid request from an anonymous caller learns nothing about what is wrong with it.
        var refused = Assert.ThrowsAsync<RpcException>(async () => await anonymous.AuthorizeAsync(new AuthorizeRequest { KeyId = "agent" }));

        Assert.That((refused!.StatusCode, refused.Status.Detail), Is.EqualTo((StatusCode.Unauthenticated, "a valid client credential is required (Authorization: Bearer kbc_...)")));
    }

    private static IEnumerable<(string Rpc, Func<Protocol.Budget.BudgetClient, Task> Call)> Rpcs()
    {
        yield return ("Authorize", async c => await c.AuthorizeAsync(Authorize("agent", 60)));
        yield return ("Settle", async c => await c.SettleAsync(new SettleRequest { Settlements = { Commit("rsv_anything", 0) } }));
        yield return ("SubmitAudit", async c => await c.SubmitAuditAsync(new SubmitAuditRequest { Records = { new AuditRecord { RecordId = "aud_forged", KeyId = "agent", Vendor = "stripe", Decision = "allow", Message = "FORGED by attacker" } } }));
        yield return ("RememberObjects", async c => await c.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "agent", Vendor = "stripe", Objects = { new VendorObject { Id = "ch_forged1", Kind = "charge", Customer = "cus_allowed", Amount = 5000 } } }));
        yield return ("FindObject", async c => await c.FindObjectAsync(new FindObjectRequest { KeyId = "agent", Vendor = "stripe", ObjectId = "ch_1" }));
        yield return ("GetKeyPolicy", async c => await c.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "agent" }));
        yield return ("GetKeyStatus", async c => await c.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } }));
        yield return ("Ping", async c => await c.PingAsync(new PingRequest()));
        yield return ("WatchKeys", async c =>
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var watch = c.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
            await watch.ResponseStream.MoveNext(cancel.Token);
        });
    }
}
