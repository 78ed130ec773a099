using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>A webhook receiver on loopback (WireMock.Net) that answers a status the test sets, and checks signatures as a receiver would.</summary>
internal sealed class WebhookReceiver : IDisposable
{
    public const string Secret = "whsec-test-0123456789abcdef";

    private readonly WireMockServer _server = WireMockServer.Start();

    public WebhookReceiver(int status = 200)
    {
        Answer(status);
    }

    public string Url(string path = "/hook") => _server.Urls[0] + path;

    /// <summary>From now on, every POST is answered <paramref name="status"/>.</summary>
    public void Answer(int status)
    {
        _server.ResetMappings();
        _server.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(status));
    }

    /// <summary>The POSTs received so far, oldest first.</summary>
    public IReadOnlyList<ReceivedAlert> Received(string path = "/hook") =>
        [.. _server.LogEntries.Select(entry => entry.RequestMessage).Where(request => request.Path == path).Select(ReceivedAlert.Of)];

    /// <summary>Settings of a webhook named <paramref name="name"/> posting to <paramref name="path"/> here.</summary>
    public Dictionary<string, string?> Webhook(string name = "ops", string path = "/hook", string? format = null, params string[] events)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"BudgetService:Alerts:Webhooks:{name}:Url"] = Url(path),
            [$"BudgetService:Alerts:Webhooks:{name}:Secret"] = Secret,
            ["BudgetService:Alerts:RetryBaseDelay"] = "00:00:01",
            ["BudgetService:Alerts:RetryMaxDelay"] = "00:00:02",
        };
        if (format is not null)
        {
            settings[$"BudgetService:Alerts:Webhooks:{name}:Format"] = format;
        }

        for (var i = 0; i < events.Length; i++)
        {
            settings[$"BudgetService:Alerts:Webhooks:{name}:Events:{i}"] = events[i];
        }

        return settings;
    }

    public void Dispose() => _server.Stop();
}

/// <summary>One POST as received: its headers, its body, and whether its signature verifies (recomputed here, as a receiver would).</summary>
internal sealed record ReceivedAlert(string AlertId, string Timestamp, string Signature, string Body)
{
    public static ReceivedAlert Of(WireMock.IRequestMessage request) => new(
        Header(request, "Keybrake-Alert-Id"), Header(request, "Keybrake-Timestamp"), Header(request, "Keybrake-Signature"), request.Body ?? string.Empty);

    /// <summary>hex(HMAC-SHA256(secret, "{timestamp}.{body}")), compared in constant time.</summary>
    public bool SignatureVerifies(string secret = WebhookReceiver.Secret)
    {
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{Timestamp}.{Body}")));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(Signature));
    }

    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string Type => Json.GetProperty("type").GetString()!;

    public int? Threshold => Json.TryGetProperty("threshold_percent", out var value) ? value.GetInt32() : null;

    private static string Header(WireMock.IRequestMessage request, string name) =>
        request.Headers?.FirstOrDefault(header => header.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault() ?? string.Empty;
}
