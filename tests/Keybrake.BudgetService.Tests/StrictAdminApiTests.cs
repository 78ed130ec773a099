using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>The admin API is strict on every route, checks the token before it reads a body, and echoes no more than a short prefix of a bad value.</summary>
public sealed class StrictAdminApiTests
{
    private const string MisspeltPolicy = """{"dailyCapMicroUsd":"5","denyEndpoint":["POST /v1/payouts"]}""";

    private static readonly TestCaseData[] s_routes =
    [
        new TestCaseData("POST", "/V1/KEYS", $$"""{"keyId":"new","vendor":"stripe","policy":{{MisspeltPolicy}}}""").SetName("POST /V1/KEYS is strict"),
        new TestCaseData("POST", "/v1/Keys/", $$"""{"keyId":"new","vendor":"stripe","policy":{{MisspeltPolicy}}}""").SetName("POST /v1/Keys/ is strict"),
        new TestCaseData("PUT", "/V1/keys/agent/POLICY", MisspeltPolicy).SetName("PUT /V1/keys/{id}/POLICY is strict"),
        new TestCaseData("PUT", "/v1/KEYS/agent/Policy/", MisspeltPolicy).SetName("PUT /v1/KEYS/{id}/Policy/ is strict"),
    ];

    [TestCaseSource(nameof(s_routes))]
    public async Task Every_spelling_of_a_policy_route_refuses_a_misspelt_field(string method, string path, string body)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var http = Rest(service, BudgetServiceHost.AdminToken);

        using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = Json(body) });
        var text = await response.Content.ReadAsStringAsync();
        var keys = await service.Admin.ListKeysAsync(new ListKeysRequest());

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(text, Does.Contain("denyEndpoint"));
            Assert.That(keys.Keys.Select(k => (k.KeyId, k.PolicyVersion)), Is.EqualTo(new[] { ("agent", 1L) }), "nothing created or changed");
        });
    }

    [Test]
    public async Task Without_the_token_an_invalid_body_gets_401_and_no_parser_detail()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var http = Rest(service, token: null);

        using var create = await http.PostAsync("/v1/keys", Json("""{"keyId": "x", "policy": {"denyEndpoint": [}"""));
        using var policy = await http.PutAsync("/V1/KEYS/agent/POLICY", Json("not json at all"));
        using var unknown = await http.PostAsync("/v1/no-such-route", Json("{}"));
        var bodies = new[] { await create.Content.ReadAsStringAsync(), await policy.Content.ReadAsStringAsync(), await unknown.Content.ReadAsStringAsync() };

        Assert.Multiple(() =>
        {
            Assert.That(new[] { create.StatusCode, policy.StatusCode, unknown.StatusCode }, Is.All.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(bodies, Is.All.Contains("a valid admin token is required"));
            Assert.That(bodies, Has.None.Contains("JSON").And.None.Contains("denyEndpoint"));
        });
    }

    [Test]
    public async Task A_REST_route_claiming_to_be_gRPC_still_needs_the_token()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var http = Rest(service, token: null);
        var body = new StringContent("""{"keyId":"new","vendor":"stripe","policy":{"dailyCapMicroUsd":"1"}}""");
        body.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");

        using var response = await http.PostAsync("/v1/keys", body);
        var keys = await service.Admin.ListKeysAsync(new ListKeysRequest());

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(keys.Keys.Select(k => k.KeyId), Does.Not.Contain("new"));
        });
    }

    [Test]
    public async Task Without_the_token_a_huge_body_is_answered_401_before_it_is_read()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));

        // A raw socket announces 25 MB and sends only the headers: the 401 must come without the service waiting
        // for (or buffering) a byte of the body. Were the body read first, no answer would come at all.
        using var socket = new TcpClient();
        await socket.ConnectAsync(service.Host.RestAddress.Host, service.Host.RestAddress.Port);
        var stream = socket.GetStream();
        var head = $"POST /V1/KEYS HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {25 * 1024 * 1024}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var statusLine = await reader.ReadLineAsync(timeout.Token);

        Assert.That(statusLine, Does.StartWith("HTTP/1.1 401"));
    }

    [Test]
    public async Task With_the_token_a_body_above_a_megabyte_is_refused()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var http = Rest(service, BudgetServiceHost.AdminToken);
        var huge = """{"dailyCapMicroUsd":"5","timeZone":" """ + new string('x', 2 * 1024 * 1024) + "\"}";

        using var response = await http.PutAsync("/v1/keys/agent/policy", Json(huge));
        var body = await response.Content.ReadAsStringAsync();
        var agent = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), body);
            Assert.That(body.Length, Is.LessThan(1000));
            Assert.That(agent.PolicyVersion, Is.EqualTo(1), "nothing changed");
        });
    }

    [Test]
    public async Task An_error_echoes_only_a_short_prefix_of_a_bad_value()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var longValue = new string('z', 500_000);

        var zone = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(
            new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, TimeZone = longValue } }));
        var rule = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(
            new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, DenyEndpoints = { "POST " + longValue } } }));
        var vendor = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(
            new CreateKeyRequest { KeyId = "new", Vendor = longValue, Policy = new Policy { DailyCapMicroUsd = 1 } }));
        var day = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = "agent", Day = longValue }));
        var keyId = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(
            new CreateKeyRequest { KeyId = "bad key " + new string('k', 50), Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 1 } }));

        Assert.Multiple(() =>
        {
            foreach (var failure in new[] { zone, rule, vendor, day, keyId })
            {
                Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
                Assert.That(failure.Status.Detail.Length, Is.LessThan(400), failure.Status.Detail[..Math.Min(200, failure.Status.Detail.Length)]);
                Assert.That(failure.Status.Detail, Does.Contain("..."), "the value is shown cut");
            }
        });
    }

    private static readonly TestCaseData[] s_keyIds =
    [
        new TestCaseData(".").SetName("Key id '.' is refused"),
        new TestCaseData("..").SetName("Key id '..' is refused"),
        new TestCaseData("a/b").SetName("Key id with a slash is refused"),
        new TestCaseData("caf\u00e9").SetName("Key id with a non-ASCII letter is refused"),
        new TestCaseData("a b").SetName("Key id with a space is refused"),
        new TestCaseData("tab\tkey").SetName("Key id with a control character is refused"),
    ];

    [TestCaseSource(nameof(s_keyIds))]
    public async Task Key_ids_are_ASCII_letters_digits_dot_underscore_and_dash_only(string keyId)
    {
        await using var service = await TestService.StartAsync(new Dictionary<string, string?>());

        var refused = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(
            new CreateKeyRequest { KeyId = keyId, Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 1 } }));
        var fine = await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "ok.key_1-a", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 1 } });

        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(refused.Status.Detail, Does.Contain("and not '.' or '..'"));
            Assert.That(fine.Key.KeyId, Is.EqualTo("ok.key_1-a"));
        });
    }

    [Test]
    public void A_configured_key_id_outside_the_alphabet_stops_the_service_at_start()
    {
        var failure = Assert.CatchAsync(async () => await TestService.StartAsync(BudgetServiceHost.Key("..", "10")));

        Assert.That(failure!.Message, Does.Contain("key id '..' must be"));
    }

    [TestCase("Eastern Standard Time")]
    [TestCase("W. Europe Standard Time")]
    public async Task A_Windows_time_zone_name_is_refused_and_the_IANA_id_accepted(string windowsName)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));

        var refused = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(
            new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, TimeZone = windowsName } }));
        TimeZoneInfo.TryConvertWindowsIdToIanaId(windowsName, out var iana);
        var accepted = await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, TimeZone = iana! } });
        var utc = await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, TimeZone = "UTC" } });

        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(refused.Status.Detail, Does.Contain("is not an IANA time zone"));
            Assert.That(accepted.Policy.TimeZone, Is.EqualTo(iana));
            Assert.That(utc.PolicyVersion, Is.EqualTo(3));
        });
    }

    private static HttpClient Rest(TestService service, string? token)
    {
        var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
