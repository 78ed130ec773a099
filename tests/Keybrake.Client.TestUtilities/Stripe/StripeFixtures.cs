using System.Text.Json.Nodes;

namespace Keybrake.Client.TestUtilities.Stripe;

/// <summary>Stripe's own example objects (fixtures3.json from stripe/openapi), one fresh copy per call.</summary>
public static class StripeFixtures
{
    private static readonly Lazy<JsonObject> s_resources = new(Load);

    /// <summary>A deep copy of the example object for a resource such as <c>charge</c> or <c>refund</c>.</summary>
    public static JsonObject Resource(string name) =>
        s_resources.Value[name]?.DeepClone().AsObject()
        ?? throw new ArgumentException($"fixtures3.json has no resource '{name}'.", nameof(name));

    private static JsonObject Load()
    {
        using var stream = typeof(StripeFixtures).Assembly.GetManifestResourceStream("Keybrake.Client.TestUtilities.stripe.fixtures3.json")
            ?? throw new InvalidOperationException("fixtures3.json is not embedded.");
        return JsonNode.Parse(stream)!["resources"]!.AsObject();
    }
}
