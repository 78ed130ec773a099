using System.Text.Json.Nodes;

namespace Keybrake.Client.TestUtilities.Twilio;

/// <summary>Twilio's own example message objects (from twilio-oai), one fresh copy per call.</summary>
public static class TwilioFixtures
{
    private static readonly Lazy<JsonObject> s_examples = new(() => Load("message-examples.json"));
    private static readonly Lazy<JsonObject> s_pricing = new(() => Load("pricing-messaging-country.json"));

    /// <summary>A message as the create call returns it: <c>price</c> null, status <c>queued</c>.</summary>
    public static JsonObject CreatedMessage() => Example("create");

    /// <summary>A message as a later fetch returns it: priced (<c>"-0.00750"</c> USD), status <c>sent</c>.</summary>
    public static JsonObject FetchedMessage() => Example("fetch");

    /// <summary>
    /// One country's messaging prices as Twilio's Pricing API v1 answers <c>GET /v1/Messaging/Countries/{IsoCountry}</c>:
    /// its fetch example (US; one carrier, <c>mobile</c> at <c>current_price</c> <c>"0.05"</c>, <c>price_unit</c> USD).
    /// </summary>
    public static JsonObject MessagingCountry() =>
        s_pricing.Value["fetch"]?.DeepClone().AsObject() ?? throw new InvalidOperationException("No pricing example 'fetch'.");

    private static JsonObject Example(string name) =>
        s_examples.Value[name]?.DeepClone().AsObject() ?? throw new ArgumentException($"No Twilio example '{name}'.", nameof(name));

    private static JsonObject Load(string file)
    {
        using var stream = typeof(TwilioFixtures).Assembly.GetManifestResourceStream("Keybrake.Client.TestUtilities.twilio." + file)
            ?? throw new InvalidOperationException(file + " is not embedded.");
        return JsonNode.Parse(stream)!.AsObject();
    }
}
