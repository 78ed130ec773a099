using System.Text.Json.Nodes;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests.Lookups;

/// <summary>
/// Charges and payment intents a web checkout made, so the guard never saw them: Stripe's own fixture objects
/// with their ids, amounts and owners set, planted in the stand-in.
/// </summary>
internal static class Checkout
{
    public static JsonObject Charge(string id, long amount, string currency = "usd", string? customer = null, long refunded = 0)
    {
        var charge = StripeFixtures.Resource("charge");
        charge["id"] = id;
        charge["amount"] = amount;
        charge["amount_captured"] = amount;
        charge["captured"] = true;
        charge["amount_refunded"] = refunded;
        charge["refunded"] = refunded == amount;
        charge["currency"] = currency;
        charge["customer"] = customer;
        return charge;
    }

    public static JsonObject PaymentIntent(string id, long amount, string? latestCharge, string status, string currency = "usd", string? customer = null)
    {
        var intent = StripeFixtures.Resource("payment_intent");
        intent["id"] = id;
        intent["amount"] = amount;
        intent["currency"] = currency;
        intent["customer"] = customer;
        intent["latest_charge"] = latestCharge;
        intent["status"] = status;
        intent["amount_capturable"] = status == "requires_capture" ? amount : 0;
        intent["amount_received"] = status == "succeeded" ? amount : 0;
        intent["transfer_data"] = null; // the fixture's points at an example account; a test that wants one sets it
        return intent;
    }

    /// <summary>Plants the object in the stand-in and returns its id.</summary>
    public static string PlantIn(StripeStub stub, JsonObject resource)
    {
        stub.Plant(resource);
        return resource["id"]!.GetValue<string>();
    }
}
