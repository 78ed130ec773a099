using System.Net;
using System.Text.Json;

namespace Keybrake.Client.Tests;

/// <summary>
/// The seam a vendor profile looks an object up through before deciding (<see cref="VendorCall.SendLookupAsync"/>):
/// the call's own inner handler and host, the real secret, one audit record for the call, and no counting.
/// </summary>
public sealed class GuardLookupTests
{
    [Test]
    public async Task A_lookup_goes_through_the_same_handler_to_the_same_host_with_the_secret_and_is_audited_with_its_call()
    {
        await using var host = GuardHost.Start<LookingUpVendorProfile>(LookingUpVendorProfile.VendorName);

        using var response = await host.SpendAsync(250, extraFields: "lookup=%2Fv1%2Fitems%2Fitem_1%3Fexpand%3Dall");

        var received = host.Vendor.Received;
        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(received.Select(r => $"{r.Method} {r.Uri.PathAndQuery}"), Is.EqualTo(new[] { "GET /v1/items/item_1?expand=all", "POST /v1/spend" }));
            Assert.That(received[0].Uri.Host, Is.EqualTo(GuardHost.BaseAddress.Host));
            Assert.That(received[0].Headers["Authorization"], Is.EqualTo("Bearer " + GuardHost.VendorSecret));
            Assert.That(received[0].Headers["X-Account"], Is.EqualTo("acct_1"), "the profile's headers go with it");
            Assert.That(record.Parameters!["lookup"], Is.EqualTo("item_1"));
            Assert.That(record.Parameters.ContainsKey("lookup_latency_us"), Is.True);
            Assert.That(JsonSerializer.Serialize(record), Does.Not.Contain(GuardHost.VendorSecret));
        });
    }

    [TestCase("//evil.example/steal", TestName = "A network-path reference")]
    [TestCase("https://evil.example/steal", TestName = "An absolute address")]
    [TestCase("\\\\evil.example/steal", TestName = "A backslash path")]
    public async Task A_lookup_never_goes_to_another_host(string path)
    {
        await using var host = GuardHost.Start<LookingUpVendorProfile>(LookingUpVendorProfile.VendorName);

        using var response = await host.SpendAsync(250, extraFields: "lookup=" + Uri.EscapeDataString(path));

        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues("Keybrake-Decision").Single(), Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Vendor.Received, Is.Empty, "nothing was sent anywhere");
        });
    }

    [Test]
    public async Task A_lookup_that_cannot_connect_is_an_answer_whose_words_carry_no_secret()
    {
        await using var host = GuardHost.Start<LookingUpVendorProfile>(LookingUpVendorProfile.VendorName);
        host.Vendor.ThrowNext(new HttpRequestException($"connection to {GuardHost.VendorSecret} refused"));

        using var response = await host.SpendAsync(250, extraFields: "lookup=%2Fv1%2Fitems%2Fitem_2");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues("Keybrake-Decision").Single(), Is.EqualTo(ReasonCodes.ObjectLookupFailed));
            Assert.That(body, Does.Contain("no answer (HttpRequestException)"));
            Assert.That(body, Does.Not.Contain(GuardHost.VendorSecret));
            Assert.That(host.Vendor.Received.Count(r => r.Method == "POST"), Is.Zero);
        });
    }

    [Test]
    public async Task Lookups_are_not_counted_by_the_rate_limit_or_the_loop_breaker()
    {
        await using var host = GuardHost.Start<LookingUpVendorProfile>(LookingUpVendorProfile.VendorName, policy =>
        {
            policy.RequestsPerMinute = 2;
            policy.LoopBreaker.MaxRepeats = 2;
        });

        // Two calls, each with a lookup: four requests to the vendor, two by the agent.
        using var first = await host.SpendAsync(100, extraFields: "lookup=%2Fv1%2Fitems%2Fitem_3");
        using var second = await host.SpendAsync(100, extraFields: "lookup=%2Fv1%2Fitems%2Fitem_3");
        using var third = await host.SpendAsync(100, extraFields: "lookup=%2Fv1%2Fitems%2Fitem_3");

        Assert.Multiple(() =>
        {
            Assert.That((first.StatusCode, second.StatusCode), Is.EqualTo((HttpStatusCode.OK, HttpStatusCode.OK)));
            Assert.That(third.Headers.GetValues("Keybrake-Decision").Single(), Is.AnyOf(ReasonCodes.RateLimited, ReasonCodes.LoopDetected));
            Assert.That(host.Vendor.Received.Count(r => r.Method == "POST"), Is.EqualTo(2));
        });
    }

    /// <summary>The test vendor, whose <c>POST /v1/spend</c> looks up the path its <c>lookup</c> field names first.</summary>
    private sealed class LookingUpVendorProfile : TestVendorProfile
    {
        public const string VendorName = "lookupvendor";

        public LookingUpVendorProfile()
            : base(VendorName)
        {
        }

        public override async ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken)
        {
            if (FormUrlEncodedBody.TryParse(vendorCall.Body.Span, out var form, out _) && form.TryGetSingle("lookup", out var path) && path is not null)
            {
                VendorLookup answer;
                try
                {
                    var id = path.Split('?')[0].Split('/')[^1];
                    answer = await vendorCall.SendLookupAsync(id.Length > 0 ? id : "object", path, [new("X-Account", "acct_1")], cancellationToken);
                }
                catch (ArgumentException exception)
                {
                    return new GuardDenial(ReasonCodes.MalformedRequest, exception.Message);
                }

                if (!answer.IsSuccess)
                {
                    return new GuardDenial(ReasonCodes.ObjectLookupFailed, answer.Failure ?? $"status {answer.StatusCode}");
                }
            }

            return await base.InspectRequestAsync(vendorCall, cancellationToken);
        }
    }
}
