using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace Keybrake.Client.TestUtilities.Resend;

/// <summary>
/// A stand-in for api.resend.com on a loopback port: WireMock.Net answering sends the way Resend does.
/// <c>POST /emails</c> answers <c>{"id":...}</c>; <c>POST /emails/batch</c> answers <c>{"data":[{"id":...}]}</c>, and
/// with <c>x-batch-validation: permissive</c> sends the valid emails and lists the others under <c>errors</c> by
/// index (strict, the default, refuses the whole batch). An email without <c>from</c> or <c>subject</c> is invalid, as
/// Resend's <c>SendEmailRequest</c> requires them. A repeated <c>Idempotency-Key</c> replays the first answer and sends
/// nothing; the same key with another body is refused with 409, as Resend does. Errors are
/// <c>{"statusCode":...,"name":...,"message":...}</c>.
/// </summary>
public sealed class ResendStub : IDisposable
{
    private readonly ConcurrentDictionary<string, (string Body, int Status, string Answer)> _idempotent = new(StringComparer.Ordinal);
    private readonly Lock _idempotencyGate = new();
    private long _emailsSent;
    private long _recipientsSent;

    private ResendStub(WireMockServer server)
    {
        Server = server;
        Server.Given(Request.Create().WithPath("/emails").UsingPost()).AtPriority(10).RespondWith(Response.Create().WithCallback(request => Idempotent(request, SendEmail)));
        Server.Given(Request.Create().WithPath("/emails/batch").UsingPost()).AtPriority(10).RespondWith(Response.Create().WithCallback(request => Idempotent(request, SendBatch)));
        Server.Given(Request.Create().WithPath("/broadcasts/*/send").UsingPost()).AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request => Json(200, new JsonObject { ["id"] = request.PathSegments[1] })));
        Server.Given(Request.Create().WithPath("/emails/*").UsingGet()).AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request => Json(200, new JsonObject { ["object"] = "email", ["id"] = request.PathSegments[1], ["last_event"] = "delivered" })));
        Server.Given(Request.Create().WithPath("/domains").UsingGet()).AtPriority(10)
            .RespondWith(Response.Create().WithCallback(_ => Json(200, new JsonObject { ["object"] = "list", ["has_more"] = false, ["data"] = new JsonArray() })));
    }

    /// <summary>The WireMock server, for custom mappings and the request log.</summary>
    public WireMockServer Server { get; }

    /// <summary>The base URL to give the Resend client as its API URL.</summary>
    public string Url => Server.Url!;

    /// <summary>Emails Resend would have sent (a replayed idempotent call sends none).</summary>
    public long EmailsSent => Interlocked.Read(ref _emailsSent);

    /// <summary>Recipients (to + cc + bcc) of the emails Resend would have sent: what it bills.</summary>
    public long RecipientsSent => Interlocked.Read(ref _recipientsSent);

    public static ResendStub Start() => new(WireMockServer.Start());

    /// <summary>The requests the stub received, oldest first.</summary>
    public IReadOnlyList<ResendStubRequest> Received =>
        Server.LogEntries
            .OrderBy(entry => entry.RequestMessage.DateTime)
            .Select(entry => new ResendStubRequest(
                entry.RequestMessage.Method,
                entry.RequestMessage.Path,
                entry.RequestMessage.Body is { Length: > 0 } body ? JsonNode.Parse(body) : null,
                entry.RequestMessage.Headers?.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)
                    ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase),
                entry.ResponseMessage.StatusCode is int status ? status : int.Parse(entry.ResponseMessage.StatusCode?.ToString() ?? "0", CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>Answers the next POST to <paramref name="path"/> with <paramref name="status"/> and Resend's error shape, then behaves normally.</summary>
    public void FailOnce(string path, int status)
    {
        var scenario = "fail-once " + path;
        Server.Given(Request.Create().WithPath(path).UsingPost())
            .InScenario(scenario)
            .WillSetStateTo("failed")
            .AtPriority(1)
            .RespondWith(Response.Create().WithCallback(_ => Error(status, status >= 500 ? "internal_server_error" : "validation_error", "An unexpected error occurred.")));
    }

    public void Dispose() => Server.Stop();

    /// <summary>Recipients of one email as Resend counts them: every to, cc and bcc address.</summary>
    public static int CountRecipients(JsonObject email) => Count(email["to"]) + Count(email["cc"]) + Count(email["bcc"]);

    private static int Count(JsonNode? field) => field switch
    {
        null => 0,
        JsonArray array => array.Count,
        _ => 1,
    };

    private IResponseMessage Idempotent(IRequestMessage request, Func<IRequestMessage, IResponseMessage> send)
    {
        if (request.Headers?.TryGetValue("Idempotency-Key", out var keys) != true || keys!.Count == 0)
        {
            return send(request);
        }

        // One lock per stub: Resend serialises concurrent requests with one key (409 concurrent_idempotent_requests);
        // the stub simply answers them one after another.
        lock (_idempotencyGate)
        {
            var key = request.Path + " " + keys[0];
            var body = request.Body ?? string.Empty;
            if (_idempotent.TryGetValue(key, out var first))
            {
                return first.Body == body
                    ? Raw(first.Status, first.Answer)
                    : Error(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.");
            }

            var response = send(request);
            if (response.StatusCode is int status && status is >= 200 and < 300)
            {
                _idempotent[key] = (body, status, response.BodyData!.BodyAsString!);
            }

            return response;
        }
    }

    private IResponseMessage SendEmail(IRequestMessage request)
    {
        if (!TryParse(request, out var node) || node is not JsonObject email)
        {
            return Error(422, "validation_error", "Invalid JSON body.");
        }

        if (MissingField(email) is { } missing)
        {
            return Error(422, "missing_required_field", $"Missing `{missing}` field.");
        }

        Sent(email);
        return Json(200, new JsonObject { ["id"] = Guid.NewGuid().ToString() });
    }

    private IResponseMessage SendBatch(IRequestMessage request)
    {
        if (!TryParse(request, out var node) || node is not JsonArray emails || emails.Count is 0 or > 100)
        {
            return Error(422, "validation_error", "The batch must be an array of 1 to 100 emails.");
        }

        var permissive = request.Headers?.TryGetValue("x-batch-validation", out var mode) == true && mode!.FirstOrDefault() == "permissive";
        var data = new JsonArray();
        var errors = new JsonArray();
        var valid = new List<JsonObject>();
        for (var i = 0; i < emails.Count; i++)
        {
            var missing = emails[i] is JsonObject email ? MissingField(email) : "email";
            if (missing is null)
            {
                valid.Add((JsonObject)emails[i]!);
            }
            else if (!permissive)
            {
                return Error(422, "missing_required_field", $"Missing `{missing}` field in email {i}.");
            }
            else
            {
                errors.Add(new JsonObject { ["index"] = i, ["message"] = $"Missing `{missing}` field." });
            }
        }

        foreach (var email in valid)
        {
            Sent(email);
            data.Add(new JsonObject { ["id"] = Guid.NewGuid().ToString() });
        }

        var answer = new JsonObject { ["data"] = data };
        if (permissive)
        {
            answer["errors"] = errors;
        }

        return Json(200, answer);
    }

    private void Sent(JsonObject email)
    {
        Interlocked.Increment(ref _emailsSent);
        Interlocked.Add(ref _recipientsSent, CountRecipients(email));
    }

    private static string? MissingField(JsonObject email) =>
        !email.ContainsKey("from") ? "from" : !email.ContainsKey("subject") ? "subject" : !email.ContainsKey("to") ? "to" : null;

    private static bool TryParse(IRequestMessage request, out JsonNode? node)
    {
        node = null;
        try
        {
            node = JsonNode.Parse(request.Body ?? string.Empty);
            return node is not null;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ResponseMessage Error(int status, string name, string message) =>
        Json(status, new JsonObject { ["statusCode"] = status, ["name"] = name, ["message"] = message });

    private static ResponseMessage Json(int status, JsonNode body) => Raw(status, body.ToJsonString());

    private static ResponseMessage Raw(int status, string body) => new()
    {
        StatusCode = status,
        Headers = new Dictionary<string, WireMockList<string>>
        {
            ["Content-Type"] = new("application/json"),
            ["ratelimit-limit"] = new("2"),
            ["ratelimit-remaining"] = new("1"),
        },
        BodyData = new BodyData { BodyAsString = body, DetectedBodyType = BodyType.String },
    };
}

/// <summary>One request the stub received.</summary>
public sealed record ResendStubRequest(string Method, string Path, JsonNode? Body, IReadOnlyDictionary<string, string> Headers, int Status);
