using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Keybrake.Client.Resend;
using Keybrake.Client.TestUtilities.Resend;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Demo;

/// <summary>
/// The email blast: a newsletter agent asked to send one batch of 40 emails to customers sends it again and
/// again (a new request each time, so nothing de-duplicates it), then tries a bigger batch, a copy to an outside
/// address, and a broadcast to a whole segment. Its Resend client ("IResend", as the Resend SDK's AddResend
/// registers it) carries the guard: $0.10 a day at Resend's USD 0.0009 an email, customer.example recipients
/// only, at most 50 recipients a request, no broadcasts.
/// </summary>
internal static class EmailBlastScenario
{
    private const string KeyId = "newsletter-agent";
    private const string BrakeKey = "vault_key_demo_newsletter_agent_3c1d";

    public static async Task<bool> RunAsync(TextWriter output)
    {
        using var resendStandIn = ResendStub.Start();
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "resend";
                key.VendorSecret = "re_demo_not_a_real_secret";
                key.VendorEndpoint = resendStandIn.Url;                          // the stand-in, in place of api.resend.com
                key.Policy.DailyCap = Usd.Parse("0.10");
                key.Policy.Endpoints.Deny.Add("POST /broadcasts/**");
                key.Policy.AllowResendRecipientDomains("customer.example").LimitResendRecipients(perRequest: 50);
                key.Policy.LoopBreaker.MaxRepeats = 0; // the blast is not caught as a loop: the cap must hold on its own
            }))
            .AddResendSdkGuard();                                            // the guard on the SDK's "IResend" client
        await using var provider = services.BuildServiceProvider();
        var resend = provider.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeResendBuilderExtensions.ResendSdkClientName);
        resend.BaseAddress = new Uri(resendStandIn.Url);
        resend.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey); // the SDK's ApiToken

        output.WriteLine();
        output.WriteLine("Keybrake demo: a runaway email blast, guarded");
        output.WriteLine($"Resend stand-in: {resendStandIn.Url} (WireMock.Net answering like the Resend API)");
        output.WriteLine("Key 'newsletter-agent': daily cap $0.10 at $0.0009 an email; recipients at customer.example only; at most 50 a request; denies POST /broadcasts/**");
        output.WriteLine();

        var calls = new List<(string What, string Path, object Body)>();
        for (var i = 0; i < 4; i++)
        {
            calls.Add(("batch of 40 emails to customer.example", "/emails/batch", Batch(40, "customer.example")));
        }

        calls.Add(("batch of 60 emails to customer.example", "/emails/batch", Batch(60, "customer.example")));
        calls.Add(("email with a bcc to outside.example", "/emails", Email("jane@customer.example", bcc: "list@outside.example")));
        calls.Add(("broadcast to the whole segment", $"/broadcasts/{Guid.NewGuid()}/send", new { }));

        var allowed = 0;
        for (var n = 0; n < calls.Count; n++)
        {
            var (what, path, body) = calls[n];
            using var response = await resend.PostAsJsonAsync(path, body);
            var verdict = response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var reasons)
                ? $"DENIED   {reasons.Single()}"
                : $"allowed  {(int)response.StatusCode}";
            allowed += response.IsSuccessStatusCode ? 1 : 0;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#{n + 1,-3} {what,-42} {verdict}"));
        }

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync(KeyId);
        var billed = Usd.FromMicros(resendStandIn.RecipientsSent * KeybrakeResendOptions.DefaultPricePerEmail.Micros);
        var held = spend.Settled <= spend.Cap && spend.Settled == billed && resendStandIn.Received.Count == allowed;
        output.WriteLine();
        output.WriteLine($"  emails Resend sent: {resendStandIn.EmailsSent} ({billed} at $0.0009); USD settled: {spend.Settled} of the {spend.Cap} daily cap");
        output.WriteLine(held ? "The blast stopped at the cap: nothing past $0.10 sent." : "The cap did not hold.");
        return held;
    }

    private static object[] Batch(int count, string domain) =>
        [.. Enumerable.Range(1, count).Select(i => Email($"customer{i:D3}@{domain}"))];

    private static Dictionary<string, object> Email(string to, string? bcc = null)
    {
        var email = new Dictionary<string, object>
        {
            ["from"] = "Acme <news@acme.example>",
            ["to"] = new[] { to },
            ["subject"] = "Our autumn sale",
            ["html"] = "<p>Everything must go.</p>",
        };
        if (bcc is not null)
        {
            email["bcc"] = new[] { bcc };
        }

        return email;
    }
}
