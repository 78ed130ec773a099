using System.Text.Json.Nodes;

namespace Keybrake.Client.TestUtilities.Twilio;

/// <summary>Twilio's own example message objects (from twilio-oai), one fresh copy per call.</summary>
public static class TwilioFixtures
{
    private static readonly Lazy<JsonObject> s_examples = new(Load);

    /// <summary>A message as the create call returns it: <c>price</c> null, status <c>queued</c>.</summary>
    public static JsonObject CreatedMessage() => Example("create");

    /// <summary>A message as a later fetch returns it: priced (<c>"-0.00750"</c> USD), status <c>sent</c>.</summary>
    public static JsonObject FetchedMessage() => Example("fetch");

    private static JsonObject Example(string name) =>
        s_examples.Value[name]?.DeepClone().AsObject() ?? throw new ArgumentException($"No Twilio example '{name}'.", nameof(name));

    private static JsonObject Load()
    {
        using var stream = typeof(TwilioFixtures).Assembly.GetManifestResourceStream("Keybrake.Client.TestUtilities.twilio.message-examples.json")
            ?? throw new InvalidOperationException("message-examples.json is not embedded.");
        return JsonNode.Parse(stream)!.AsObject();
    }
}
