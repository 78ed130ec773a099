using System.Collections.Concurrent;
using System.Collections.Specialized;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Web;
using Keybrake.Client.TestUtilities.Stripe;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Keybrake.Client.TestUtilities.Twilio;

/// <summary>
/// A stand-in for api.twilio.com on a loopback port: WireMock.Net answering with Twilio's own example message
/// objects, with the request's recipient, sender and body filled in. Like Twilio, a created message has no price;
/// a later fetch (or list) shows the price the stub decided for it.
/// </summary>
public sealed class TwilioStub : IDisposable
{
    /// <summary>The price the stub charges per message unless told otherwise: Twilio's fetch example's.</summary>
    public const string DefaultPrice = "-0.00750";

    private readonly ConcurrentDictionary<string, JsonObject> _messages = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();
    private readonly ConcurrentDictionary<string, string> _countryPrices = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _pricingHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<NameValueCollection, string?> _priceOf = _ => DefaultPrice;

    private TwilioStub(WireMockServer server)
    {
        Server = server;
        Server.Given(Request.Create().WithPath("/2010-04-01/Accounts/*/Messages.json").UsingPost())
            .AtPriority(10)
            .RespondWith(Json(201, request => CreateMessage(request).ToJsonString()));
        Server.Given(Request.Create().WithPath("/2010-04-01/Accounts/*/Messages/*").UsingGet())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(FetchMessage));
        Server.Given(Request.Create().WithPath("/2010-04-01/Accounts/*/Messages.json").UsingGet())
            .AtPriority(10)
            .RespondWith(Json(200, _ => ListMessages().ToJsonString()));
        Server.Given(Request.Create().WithPath("/2010-04-01/Accounts/*/Calls.json").UsingPost())
            .AtPriority(10)
            .RespondWith(Json(201, request => CreateCall(request).ToJsonString()));
        Server.Given(Request.Create().WithPath(PricingPath + "*").UsingGet())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(FetchCountryPrices));
    }

    /// <summary>Where Twilio's Pricing API v1 serves a country's messaging prices (on pricing.twilio.com).</summary>
    public const string PricingPath = "/v1/Messaging/Countries/";

    /// <summary>The Pricing API requests the stub received (the test handler sends pricing.twilio.com's here too).</summary>
    public IReadOnlyList<StubRequest> PricingRequests => Received.Where(r => r.Path.StartsWith(PricingPath, StringComparison.Ordinal)).ToList();

    /// <summary>
    /// Serves <paramref name="isoCountry"/>'s messaging prices: Twilio's own fetch example (one carrier, <c>mobile</c>
    /// at <c>"0.05"</c> USD) for that country, changed by <paramref name="edit"/> if given. Countries not served are 404.
    /// </summary>
    public void ServeCountryPrices(string isoCountry, Action<JsonObject>? edit = null)
    {
        var country = TwilioFixtures.MessagingCountry();
        country["iso_country"] = isoCountry;
        country["url"] = "https://pricing.twilio.com" + PricingPath + isoCountry;
        edit?.Invoke(country);
        _countryPrices[isoCountry] = country.ToJsonString();
    }

    /// <summary>Answers every Pricing API request with a Twilio error of this status.</summary>
    public void FailPricing(int status) =>
        Server.Given(Request.Create().WithPath(PricingPath + "*").UsingGet())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json")
                .WithBody($$"""{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":{{status}}}"""));

    /// <summary>Answers no Pricing API request until the stub is disposed: a Pricing API that hangs.</summary>
    public void HoldPricing() =>
        Server.Given(Request.Create().WithPath(PricingPath + "*").UsingGet())
            .AtPriority(1)
            .RespondWith(Response.Create().WithCallback(async request =>
            {
                await _pricingHeld.Task.ConfigureAwait(false);
                return FetchCountryPrices(request);
            }));

    /// <summary>The WireMock server, for custom mappings and the request log.</summary>
    public WireMockServer Server { get; }

    /// <summary>The stub's base URL, where the test handler sends requests meant for api.twilio.com.</summary>
    public string Url => Server.Url!;

    public static TwilioStub Start() => new(WireMockServer.Start());

    /// <summary>The requests the stub received, oldest first.</summary>
    public IReadOnlyList<StubRequest> Received =>
        Server.LogEntries
            .OrderBy(entry => entry.RequestMessage.DateTime)
            .Select(entry => new StubRequest(
                entry.RequestMessage.Method,
                entry.RequestMessage.Path,
                HttpUtility.ParseQueryString(entry.RequestMessage.Body ?? string.Empty),
                entry.RequestMessage.Headers?.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)
                    ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase),
                entry.ResponseMessage.StatusCode is int status ? status : int.Parse(entry.ResponseMessage.StatusCode?.ToString() ?? "0", CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>The messages the stub accepted (POSTs answered 201).</summary>
    public int MessagesSent => Received.Count(r => r.Method == "POST" && r.Path.EndsWith("/Messages.json", StringComparison.Ordinal) && r.Status == 201);

    /// <summary>The SIDs of the messages created, oldest first.</summary>
    public IReadOnlyList<string> MessageSids => [.. _order];

    /// <summary>Decides each new message's later price from its form (a negative decimal string; null leaves it unpriced).</summary>
    public void PriceMessagesWith(Func<NameValueCollection, string?> priceOf) => _priceOf = priceOf;

    /// <summary>What Twilio will bill for every message created so far, in micro-USD (prices are negative strings).</summary>
    public long SumOfPricesMicroUsd() =>
        _messages.Values.Sum(m => m["__price"] is { } price ? decimal.ToInt64(-decimal.Parse(price.GetValue<string>(), CultureInfo.InvariantCulture) * 1_000_000m) : 0);

    /// <summary>Answers every POST to <paramref name="pathPattern"/> with a Twilio error of this status.</summary>
    public void Fail(string pathPattern, int status, int code = 20500) =>
        Server.Given(Request.Create().WithPath(pathPattern).UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json")
                .WithBody($$"""{"code":{{code}},"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/{{code}}","status":{{status}}}"""));

    public void Dispose()
    {
        _pricingHeld.TrySetResult(); // a held request ends, so the server stops at once
        Server.Stop();
    }

    private static IResponseBuilder Json(int status, Func<IRequestMessage, string> body) =>
        Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json").WithBody(body);

    private static string NewSid(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private JsonObject CreateMessage(IRequestMessage request)
    {
        var form = HttpUtility.ParseQueryString(request.Body ?? string.Empty);
        var account = request.PathSegments[2];
        var sid = NewSid("SM");
        var message = TwilioFixtures.CreatedMessage();
        message["sid"] = sid;
        message["account_sid"] = account;
        message["to"] = form["To"];
        message["from"] = form["From"];
        message["messaging_service_sid"] = form["MessagingServiceSid"];
        message["body"] = form["Body"];
        message["num_media"] = (form.GetValues("MediaUrl")?.Length ?? 0).ToString(CultureInfo.InvariantCulture);
        message["uri"] = $"/2010-04-01/Accounts/{account}/Messages/{sid}.json";
        message["subresource_uris"] = new JsonObject { ["media"] = $"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json" };
        var stored = message.DeepClone().AsObject();
        stored["__price"] = _priceOf(form);
        _messages[sid] = stored;
        _order.Enqueue(sid);
        return message;
    }

    private ResponseMessage FetchMessage(IRequestMessage request)
    {
        var sid = request.PathSegments[^1].Replace(".json", string.Empty, StringComparison.Ordinal);
        if (!_messages.TryGetValue(sid, out var stored))
        {
            var missing = new ResponseMessage { StatusCode = 404 };
            missing.AddHeader("Content-Type", "application/json");
            missing.BodyData = new WireMock.Util.BodyData
            {
                BodyAsString = $$"""{"code":20404,"message":"The requested resource /2010-04-01/Accounts/{{request.PathSegments[2]}}/Messages/{{sid}}.json was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}""",
                DetectedBodyType = WireMock.Types.BodyType.String,
            };
            return missing;
        }

        var response = new ResponseMessage { StatusCode = 200 };
        response.AddHeader("Content-Type", "application/json");
        response.BodyData = new WireMock.Util.BodyData { BodyAsString = Priced(stored).ToJsonString(), DetectedBodyType = WireMock.Types.BodyType.String };
        return response;
    }

    private IResponseMessage FetchCountryPrices(IRequestMessage request)
    {
        var iso = request.PathSegments[^1];
        var found = _countryPrices.TryGetValue(iso, out var json);
        var response = new ResponseMessage { StatusCode = found ? 200 : 404 };
        response.AddHeader("Content-Type", "application/json");
        response.BodyData = new WireMock.Util.BodyData
        {
            BodyAsString = found ? json : $$"""{"code":20404,"message":"The requested resource {{PricingPath}}{{iso}} was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}""",
            DetectedBodyType = WireMock.Types.BodyType.String,
        };
        return response;
    }

    private JsonObject ListMessages() => new()
    {
        ["messages"] = new JsonArray([.. _order.Select(sid => (JsonNode)Priced(_messages[sid]))]),
        ["page"] = 0,
        ["page_size"] = 50,
        ["next_page_uri"] = null,
    };

    /// <summary>The stored message as a later fetch shows it: Twilio's fetch example, with this message's fields and price.</summary>
    private static JsonObject Priced(JsonObject stored)
    {
        var fetched = TwilioFixtures.FetchedMessage();
        foreach (var field in new[] { "sid", "account_sid", "to", "from", "messaging_service_sid", "body", "num_media", "uri", "subresource_uris" })
        {
            fetched[field] = stored[field]?.DeepClone();
        }

        var price = stored["__price"]?.GetValue<string>();
        fetched["price"] = price;
        fetched["price_unit"] = price is null ? null : "USD";
        fetched["status"] = price is null ? "sending" : "delivered";
        fetched["error_code"] = null;
        fetched["error_message"] = null;
        return fetched;
    }

    private static JsonObject CreateCall(IRequestMessage request)
    {
        var form = HttpUtility.ParseQueryString(request.Body ?? string.Empty);
        var sid = NewSid("CA");
        return new JsonObject
        {
            ["sid"] = sid,
            ["account_sid"] = request.PathSegments[2],
            ["to"] = form["To"],
            ["from"] = form["From"],
            ["status"] = "queued",
            ["price"] = null,
            ["price_unit"] = "USD",
            ["uri"] = $"/2010-04-01/Accounts/{request.PathSegments[2]}/Calls/{sid}.json",
        };
    }
}
