using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// The guard and the request the Resend benchmark shares. The request is built the way the Resend SDK builds
/// <c>EmailSendAsync</c>: a new <see cref="HttpRequestMessage"/> per call to <c>POST /emails</c>, the key as a Bearer
/// token, a JSON body with the SDK's field names (<c>to</c> as an array), and a fresh <c>Idempotency-Key</c>.
/// </summary>
internal static class ResendCalls
{
    public const string KeyId = "benchmark-mailer";
    public const string BrakeKey = "vault_key_benchmark_mailer_0000001";
    public const string VendorSecret = "re_benchmark";

    private static readonly Uri s_emails = new("https://api.resend.com/emails");

    // One email to two recipients (to and cc): USD 0.0018 at the default price.
    private static readonly byte[] s_email = Encoding.UTF8.GetBytes(
        """{"from":"Acme <onboarding@acme.example>","to":["jane@customer.example"],"subject":"Your order","cc":["ops@acme.example"],"text":"Thanks for your order."}""");

    /// <summary>A guard with one Resend key whose limits are never reached, the loop breaker off, and a recipient allowlist to check.</summary>
    public static KeybrakeGuard CreateGuard() =>
        KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "resend";
                key.VendorSecret = VendorSecret;
                key.Policy.DailyCap = Usd.MaxValue;
                key.Policy.LoopBreaker.MaxRepeats = 0;
                key.Policy.Scope["recipientDomains"] = ["customer.example", "acme.example"];
            }))
            .AddResend());

    public static async Task<HttpStatusCode> SendEmailAsync(HttpClient client)
    {
        var content = new ByteArrayContent(s_email);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, s_emails) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>Fails the run unless a guarded send takes the allowed path and settles at USD 0.0018.</summary>
    public static void VerifyAllowedPath()
    {
        var guard = CreateGuard();
        try
        {
            using var client = guard.CreateHttpClient("resend", StubResendHandler.Email());
            var status = SendEmailAsync(client).GetAwaiter().GetResult();
            var spend = guard.Admin.GetDailySpendAsync(KeyId).AsTask().GetAwaiter().GetResult();
            if (status != HttpStatusCode.OK || spend.Settled != Usd.FromMicros(1800))
            {
                throw new InvalidOperationException($"The guard did not allow the benchmark send: POST {status}, settled {spend.Settled}.");
            }
        }
        finally
        {
            guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
