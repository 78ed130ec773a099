using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Keybrake.Client.Tests;

public sealed class GuardDenialTests
{
    [Test]
    public async Task A_denial_carries_the_decision_header_and_the_vendor_s_error_shape_and_never_reaches_the_vendor()
    {
        await using var host = GuardHost.Start(policy => policy.Endpoints.Deny.Add("POST /v1/spend"));

        using var response = await host.SpendAsync(100);

        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision), Is.EqualTo(new[] { ReasonCodes.EndpointNotAllowed }));
            Assert.That(error.GetProperty("reason").GetString(), Is.EqualTo(ReasonCodes.EndpointNotAllowed));
            Assert.That(error.GetProperty("status").GetInt32(), Is.EqualTo(403));
            Assert.That(error.GetProperty("message").GetString(), Is.EqualTo(
                "Keybrake denied POST /v1/spend (endpoint_not_allowed): the key's deny rule 'POST /v1/spend' matches."));
            Assert.That(response.RequestMessage, Is.Not.Null);
            Assert.That(host.Vendor.Received, Is.Empty);
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [TestCase(null, TestName = "A request without any credential")]
    [TestCase(GuardHost.VendorSecret, TestName = "A request carrying the real vendor secret")]
    [TestCase("vault_key_never_issued_to_anyone_000", TestName = "A request carrying an unknown brake key")]
    public async Task A_request_without_a_known_brake_key_is_denied_as_key_unknown(string? credential)
    {
        await using var host = GuardHost.Start();
        using var client = host.Client();
        client.DefaultRequestHeaders.Authorization = credential is null ? null : new AuthenticationHeaderValue("Bearer", credential);

        using var response = await client.GetAsync("/v1/items/it_1");

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.KeyUnknown));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_revoked_key_is_denied_even_for_a_read()
    {
        await using var host = GuardHost.Start();
        await host.Admin.RevokeKeyAsync(GuardHost.KeyId);
        using var client = host.Client();

        using var response = await client.GetAsync("/v1/items/it_1");

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_recipient_outside_the_allowlist_is_denied_by_the_vendor_profile()
    {
        await using var host = GuardHost.Start(policy => policy.Allow(TestVendorProfile.RecipientsScope, "r_allowed"));

        using var allowed = await host.SpendAsync(100, extraFields: "recipient=r_allowed");
        using var denied = await host.SpendAsync(100, extraFields: "recipient=r_stranger");

        Assert.Multiple(() =>
        {
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(denied), Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_call_over_the_per_request_maximum_is_denied_before_anything_is_reserved()
    {
        await using var host = GuardHost.Start(policy => policy.PerRequestMax = Usd.FromDollars(25));

        using var response = await host.SpendAsync(2501);

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.PaymentRequired));
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.AmountOverRequestLimit));
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_body_over_the_size_limit_is_denied_as_request_too_large()
    {
        await using var host = GuardHost.Start(options: o => o.MaxRequestBodyBytes = 1024);

        using var response = await host.SpendAsync(100, extraFields: "note=" + new string('x', 2048));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.RequestTooLarge));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_body_the_vendor_profile_cannot_read_is_denied_as_malformed()
    {
        await using var host = GuardHost.Start();
        using var client = host.Client();

        using var response = await client.PostAsync("/v1/spend", new StringContent("amount_cents=%ZZ", Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.MalformedRequest));
        });
    }

    [Test]
    public async Task An_encoded_slash_in_the_path_is_refused_rather_than_matched_against_rules()
    {
        await using var host = GuardHost.Start(policy => policy.Endpoints.Allow.Add("GET /v1/items/*"));
        using var client = host.Client();

        using var response = await client.GetAsync("/v1/items/it_1%2F..%2F..%2Fadmin");

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task ThrowOnDeny_throws_KeybrakeDeniedException_with_the_reason_key_vendor_and_run()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(1), options: o => o.ThrowOnDeny = true);

        KeybrakeDeniedException? denied;
        using (KeybrakeRun.Begin("run_throw"))
        {
            denied = Assert.ThrowsAsync<KeybrakeDeniedException>(async () => await host.SpendAsync(500));
        }

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(denied.KeyId, Is.EqualTo(GuardHost.KeyId));
            Assert.That(denied.Vendor, Is.EqualTo(TestVendorProfile.Name));
            Assert.That(denied.RunId, Is.EqualTo("run_throw"));
            Assert.That(denied.StatusCode, Is.EqualTo(402));
            Assert.That(denied.Message, Does.StartWith("Keybrake denied POST /v1/spend (daily_cap_exceeded)"));
            Assert.That(denied, Is.Not.InstanceOf<HttpRequestException>(), "SDKs retry those");
            Assert.That(host.Vendor.Received, Is.Empty);
            Assert.That(host.Audit.Records.Single().Decision, Is.EqualTo("deny"));
        });
    }

    private static string? DecisionOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var values) ? values.Single() : null;
}
