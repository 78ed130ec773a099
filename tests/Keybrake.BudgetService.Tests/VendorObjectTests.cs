using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class VendorObjectTests(StoreEngine engine)
{
    [Test]
    public async Task An_object_remembered_is_found_by_vendor_and_id_and_a_later_version_replaces_it()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var charge = new VendorObject { Id = "ch_1", Kind = "charge", Customer = "cus_1", Currency = "usd", Amount = 5000 };
        await service.Budget.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "agent", Vendor = "stripe", Objects = { charge } });
        var refunded = charge.Clone();
        refunded.AmountReturned = 2000;

        var found = await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "agent", Vendor = "stripe", ObjectId = "ch_1" });
        await service.Budget.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "agent", Vendor = "stripe", Objects = { refunded } });
        var updated = await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "agent", Vendor = "stripe", ObjectId = "ch_1" });
        var otherVendor = await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "agent", Vendor = "twilio", ObjectId = "ch_1" });

        Assert.Multiple(() =>
        {
            Assert.That((found.Found, found.Object), Is.EqualTo((true, charge)));
            Assert.That(updated.Object, Is.EqualTo(refunded));
            Assert.That((otherVendor.Found, otherVendor.Object), Is.EqualTo((false, (VendorObject?)null)));
        });
    }

    [Test]
    public async Task An_object_without_an_id_is_refused()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "agent", Vendor = "stripe", Objects = { new VendorObject { Kind = "charge" } } }));

        Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "objects.id is required")));
    }
}
