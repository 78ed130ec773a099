using System.Collections.Concurrent;
using System.Collections.Specialized;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Web;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace Keybrake.Client.TestUtilities.Stripe;

/// <summary>
/// A stand-in for api.stripe.com on a loopback port: WireMock.Net answering with Stripe's own fixture objects,
/// with the request's amount, currency and ids filled in. It keeps the charges and payment intents it made,
/// so refunds and captures behave like Stripe's (a refund without an amount refunds the rest).
/// </summary>
public sealed class StripeStub : IDisposable
{
    private readonly ConcurrentDictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private int _sequence;
    private long _refundedCents;

    private StripeStub(WireMockServer server)
    {
        Server = server;
        Map("POST", "/v1/charges", CreateCharge);
        Map("POST", "/v1/charges/*/capture", CaptureCharge);
        Map("POST", "/v1/refunds", CreateRefund);
        Map("POST", "/v1/charges/*/refunds", form => CreateRefund(WithCharge(form)));
        Map("POST", "/v1/charges/*/refund", RefundChargeLegacy);
        Map("POST", "/v1/payment_intents", CreatePaymentIntent);
        Map("POST", "/v1/payment_intents/*/confirm", ConfirmPaymentIntent);
        Map("POST", "/v1/payment_intents/*/capture", CapturePaymentIntent);
        Map("POST", "/v1/payouts", form => Simple("payout", "po", form));
        Map("POST", "/v1/transfers", form => Simple("transfer", "tr", form));
        Map("POST", "/v1/topups", form => Simple("topup", "tu", form));
        Map("POST", "/v1/customers", _ => Fresh("customer", "cus"));
        // Like Stripe, a charge or payment intent it does not have is a 404 (resource_missing).
        Server.Given(Request.Create().WithPath("/v1/charges/*").UsingGet())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request => Retrieve(request, "charge")));
        Server.Given(Request.Create().WithPath("/v1/payment_intents/*").UsingGet())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request => Retrieve(request, "payment_intent")));
        Server.Given(Request.Create().WithPath("/v1/customers/*").UsingGet())
            .RespondWith(Json(request => Stamp(StripeFixtures.Resource("customer"), request.PathSegments[2]).ToJsonString()));
    }

    /// <summary>The WireMock server, for custom mappings and the request log.</summary>
    public WireMockServer Server { get; }

    /// <summary>The base URL to give Stripe.net as its API base.</summary>
    public string Url => Server.Url!;

    public static StripeStub Start() => new(WireMockServer.Start());

    /// <summary>The requests the stub received, oldest first.</summary>
    public IReadOnlyList<StubRequest> Received =>
        Server.LogEntries
            .OrderBy(entry => entry.RequestMessage.DateTime)
            .Select(entry => new StubRequest(
                entry.RequestMessage.Method,
                entry.RequestMessage.Path,
                ParseForm(entry.RequestMessage.Body),
                entry.RequestMessage.Headers?.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)
                    ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase),
                entry.ResponseMessage.StatusCode is int status ? status : int.Parse(entry.ResponseMessage.StatusCode?.ToString() ?? "0", CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>
    /// Makes the stub hold an object it did not create, as Stripe holds the charges a web checkout made: a charge
    /// or payment intent (with its <c>latest_charge</c> id) that later GETs, refunds and captures find.
    /// </summary>
    public void Plant(JsonObject resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        Remember(resource);
    }

    /// <summary>The GETs of a charge or payment intent the stub received: the guard's lookups.</summary>
    public int LookupsOf(string objectId) =>
        Received.Count(r => r.Method == "GET" && r.Path.EndsWith("/" + objectId, StringComparison.Ordinal));

    /// <summary>The sum of the amounts of the successful POSTs to a path: what Stripe would have moved.</summary>
    public long SumOfAmounts(string path) =>
        Received.Where(r => r.Method == "POST" && r.Path == path && r.Status is >= 200 and < 300)
            .Sum(r => long.Parse(r.Form["amount"] ?? "0", CultureInfo.InvariantCulture));

    /// <summary>The sum of every refund the stub made, in cents (refunds without an amount refund the rest of their charge).</summary>
    public long SumOfRefundedCents() => Interlocked.Read(ref _refundedCents);

    /// <summary>Answers the next POST to <paramref name="path"/> with <paramref name="status"/>, then behaves normally.</summary>
    public void FailOnce(string path, int status)
    {
        var scenario = "fail-once " + path;
        Server.Given(Request.Create().WithPath(path).UsingPost())
            .InScenario(scenario)
            .WillSetStateTo("failed")
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"type":"api_error","message":"An unknown error occurred"}}"""));
    }

    /// <summary>Declines every POST to <paramref name="path"/> the way Stripe declines a card (402).</summary>
    public void Decline(string path) =>
        Server.Given(Request.Create().WithPath(path).UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(402).WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}"""));

    /// <summary>
    /// Answers every request whose <c>Authorization</c> header does not match <paramref name="wildcard"/> (such as
    /// <c>Bearer sk_test_51Vault*</c>) the way Stripe answers an invalid API key (401), ahead of every other mapping.
    /// </summary>
    public void RefuseAuthorizationsOtherThan(string wildcard) =>
        Server.Given(Request.Create().WithPath("/*").WithHeader("Authorization", wildcard, WireMock.Matchers.MatchBehaviour.RejectOnMatch))
            .AtPriority(0)
            .RespondWith(Response.Create().WithStatusCode(401).WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"""));

    public void Dispose() => Server.Stop();

    private static NameValueCollection ParseForm(string? body) => HttpUtility.ParseQueryString(body ?? string.Empty);

    private static IResponseBuilder Json(Func<IRequestMessage, string> body) =>
        Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithHeader("Request-Id", "req_stub").WithBody(body);

    private void Map(string method, string path, Func<NameValueCollection, JsonObject> respond) =>
        Server.Given(Request.Create().WithPath(path).UsingMethod(method))
            .AtPriority(10)
            .RespondWith(Json(request =>
            {
                var form = ParseForm(request.Body);
                form["__path_id"] = request.PathSegments.Length > 2 ? request.PathSegments[2] : null;
                return respond(form).ToJsonString();
            }));

    private string NextId(string prefix) =>
        $"{prefix}_stub{Interlocked.Increment(ref _sequence).ToString("D8", CultureInfo.InvariantCulture)}";

    private static JsonObject Stamp(JsonObject resource, string id)
    {
        resource["id"] = id;
        return resource;
    }

    private JsonObject Fresh(string resource, string prefix) => Stamp(StripeFixtures.Resource(resource), NextId(prefix));

    private static long Amount(NameValueCollection form, string field = "amount") =>
        long.Parse(form[field] ?? "0", CultureInfo.InvariantCulture);

    private JsonObject Simple(string resource, string prefix, NameValueCollection form)
    {
        var result = Fresh(resource, prefix);
        result["amount"] = Amount(form);
        result["currency"] = form["currency"];
        if (form["destination"] is { } destination)
        {
            result["destination"] = destination;
        }

        return Remember(result);
    }

    private JsonObject Remember(JsonObject result)
    {
        _objects[result["id"]!.GetValue<string>()] = result;
        return result;
    }

    private JsonObject CreateCharge(NameValueCollection form)
    {
        var charge = Fresh("charge", "ch");
        var amount = Amount(form);
        var captured = form["capture"] != "false";
        charge["amount"] = amount;
        charge["currency"] = form["currency"];
        charge["customer"] = form["customer"];
        charge["description"] = form["description"];
        charge["captured"] = captured;
        charge["amount_captured"] = captured ? amount : 0;
        charge["amount_refunded"] = 0L;
        charge["on_behalf_of"] = form["on_behalf_of"];
        return Remember(charge);
    }

    private JsonObject CaptureCharge(NameValueCollection form)
    {
        var charge = _objects[form["__path_id"]!];
        lock (charge)
        {
            var amount = form["amount"] is null ? charge["amount"]!.GetValue<long>() : Amount(form);
            charge["captured"] = true;
            charge["amount_captured"] = amount;
            return charge.DeepClone().AsObject();
        }
    }

    private JsonObject CreateRefund(NameValueCollection form)
    {
        var refund = Fresh("refund", "re");
        var chargeId = form["charge"];
        if (chargeId is null && form["payment_intent"] is { } intentId && _objects.TryGetValue(intentId, out var intent))
        {
            lock (intent)
            {
                chargeId = intent["latest_charge"]?.GetValue<string>();
            }
        }

        refund["charge"] = chargeId;
        refund["payment_intent"] = form["payment_intent"];
        if (chargeId is not null && _objects.TryGetValue(chargeId, out var charge))
        {
            lock (charge)
            {
                var remaining = charge["amount"]!.GetValue<long>() - charge["amount_refunded"]!.GetValue<long>();
                var amount = form["amount"] is null ? remaining : Amount(form);
                charge["amount_refunded"] = charge["amount_refunded"]!.GetValue<long>() + amount;
                refund["amount"] = amount;
                refund["currency"] = charge["currency"]!.GetValue<string>();
            }
        }
        else
        {
            // A charge the stub never made: refund what was asked, in the currency asked (Stripe would know better).
            refund["amount"] = form["amount"] is null ? StripeFixtures.Resource("refund")["amount"]!.GetValue<long>() : Amount(form);
            refund["currency"] = form["currency"] ?? "usd";
        }

        Interlocked.Add(ref _refundedCents, refund["amount"]!.GetValue<long>());
        return refund;
    }

    private ResponseMessage Retrieve(IRequestMessage request, string kind)
    {
        var id = request.PathSegments[2];
        if (!_objects.TryGetValue(id, out var found) || found["object"]?.GetValue<string>() != kind)
        {
            return new ResponseMessage
            {
                StatusCode = 404,
                Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
                BodyData = new BodyData
                {
                    BodyAsString = $$$"""{"error":{"code":"resource_missing","message":"No such {{{kind}}}: '{{{id}}}'","param":"id","type":"invalid_request_error"}}""",
                    DetectedBodyType = BodyType.String,
                },
            };
        }

        JsonObject body;
        lock (found)
        {
            body = found.DeepClone().AsObject();
        }

        // expand[]=latest_charge: the payment intent carries its latest charge whole, as Stripe sends it.
        var query = HttpUtility.ParseQueryString(request.RawQuery ?? string.Empty);
        var expand = query.AllKeys.Any(name => name is not null && name.StartsWith("expand[", StringComparison.Ordinal) && query[name] == "latest_charge");
        if (expand && body["latest_charge"]?.GetValue<string>() is { } chargeId && _objects.TryGetValue(chargeId, out var charge))
        {
            lock (charge)
            {
                body["latest_charge"] = charge.DeepClone();
            }
        }

        return new ResponseMessage
        {
            StatusCode = 200,
            Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json"), ["Request-Id"] = new("req_stub") },
            BodyData = new BodyData { BodyAsString = body.ToJsonString(), DetectedBodyType = BodyType.String },
        };
    }

    /// <summary>A refund through <c>/v1/charges/{id}/refunds</c> names its charge in the path.</summary>
    private static NameValueCollection WithCharge(NameValueCollection form)
    {
        form["charge"] = form["__path_id"];
        return form;
    }

    /// <summary>The legacy <c>/v1/charges/{id}/refund</c> refunds and answers with the charge.</summary>
    private JsonObject RefundChargeLegacy(NameValueCollection form)
    {
        CreateRefund(WithCharge(form));
        var charge = _objects[form["__path_id"]!];
        lock (charge)
        {
            return charge.DeepClone().AsObject();
        }
    }

    private JsonObject CapturePaymentIntent(NameValueCollection form)
    {
        var intent = _objects[form["__path_id"]!];
        lock (intent)
        {
            var amount = form["amount_to_capture"] is null ? intent["amount"]!.GetValue<long>() : Amount(form, "amount_to_capture");
            intent["status"] = "succeeded";
            intent["amount_received"] = amount;
            intent["amount_capturable"] = 0L;
            return intent.DeepClone().AsObject();
        }
    }

    private JsonObject CreatePaymentIntent(NameValueCollection form)
    {
        var intent = Fresh("payment_intent", "pi");
        var confirmed = form["confirm"] == "true";
        intent["amount"] = Amount(form);
        intent["currency"] = form["currency"];
        intent["customer"] = form["customer"];
        intent["status"] = confirmed ? "succeeded" : "requires_confirmation";
        intent["amount_received"] = confirmed ? Amount(form) : 0;
        return Remember(intent);
    }

    private JsonObject ConfirmPaymentIntent(NameValueCollection form)
    {
        var intent = _objects[form["__path_id"]!];
        lock (intent)
        {
            intent["status"] = "succeeded";
            intent["amount_received"] = intent["amount"]!.GetValue<long>();
            return intent.DeepClone().AsObject();
        }
    }
}

/// <summary>One request the stub received.</summary>
public sealed record StubRequest(string Method, string Path, NameValueCollection Form, IReadOnlyDictionary<string, string> Headers, int Status);
