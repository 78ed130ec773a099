using System.Net;
using System.Net.Http.Headers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// A Twilio message on the embedded ledger, <c>POST /2010-04-01/Accounts/{sid}/Messages.json</c>, bare and
/// guarded: the guard parses the form, counts the body's segments, prices them for the destination country,
/// reserves, and reads the created message (price null) to leave the reservation open for the later price.
/// </summary>
/// <remarks>
/// Every guarded message leaves an open reservation (Twilio prices it later), so, as in <see cref="ChargeBenchmarks"/>,
/// each iteration gets a fresh guard and a fixed number of calls.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class TwilioMessageBenchmarks
{
    public const int CallsPerIteration = 65_536;

    private const string KeyId = "benchmark-sms-agent";
    private const string BrakeKey = "vault_key_benchmark_sms_agent_0001";
    private const string AccountSid = "AC0123456789abcdef0123456789abcdef";

    private static readonly Uri s_messages = new($"https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json");
    private static readonly AuthenticationHeaderValue s_auth = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AccountSid}:{BrakeKey}")));

    private static readonly KeyValuePair<string, string>[] s_form =
    [
        new("To", "+14155550199"),
        new("From", "+14155550100"),
        new("Body", "Your order #1042 has shipped and will arrive on Thursday. Reply STOP to opt out."),
    ];

    private KeybrakeGuard? _guard;
    private HttpClient _client = null!;

    [GlobalSetup]
#pragma warning disable CA1822 // BenchmarkDotNet runs instance setup methods
    public void Setup() => VerifyAllowedPath();
#pragma warning restore CA1822

    [IterationSetup(Target = nameof(Bare))]
    public void SetupBare() => _client = new HttpClient(new StubTwilioHandler(), disposeHandler: true);

    [IterationSetup(Target = nameof(Guarded))]
    public void SetupGuarded()
    {
        _guard = CreateGuard();
        _client = _guard.CreateHttpClient("twilio", new StubTwilioHandler());
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        _client.Dispose();
        _guard?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _guard = null;
    }

    [Benchmark(Baseline = true, Description = "POST Twilio message, bare")]
    public Task<HttpStatusCode> Bare() => SendAsync(_client);

    [Benchmark(Description = "POST Twilio message, guarded")]
    public Task<HttpStatusCode> Guarded() => SendAsync(_client);

    /// <summary>A request built the way the Twilio SDK builds one: Basic auth, Accept JSON, a form body.</summary>
    private static async Task<HttpStatusCode> SendAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, s_messages) { Content = new FormUrlEncodedContent(s_form) };
        request.Headers.Authorization = s_auth;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.TryAddWithoutValidation("User-Agent", "twilio-csharp/8.2.0");
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>A guard whose limits are never reached, so every message takes the allowed path.</summary>
    private static KeybrakeGuard CreateGuard() =>
        KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "twilio";
                key.VendorSecret = "benchmark_auth_token";
                key.Policy.DailyCap = Usd.MaxValue;
                key.Policy.LoopBreaker.MaxRepeats = 0;
            }))
            .AddTwilio());

    /// <summary>Fails the run unless a guarded message is answered and reserved at one US segment.</summary>
    private static void VerifyAllowedPath()
    {
        var guard = CreateGuard();
        try
        {
            using var client = guard.CreateHttpClient("twilio", new StubTwilioHandler());
            var status = SendAsync(client).GetAwaiter().GetResult();
            var spend = guard.Admin.GetDailySpendAsync(KeyId).AsTask().GetAwaiter().GetResult();
            if (status != HttpStatusCode.Created || spend.Reserved != Usd.FromMicros(8_300))
            {
                throw new InvalidOperationException($"The guard did not allow the benchmark message: POST {status}, reserved {spend.Reserved}.");
            }
        }
        finally
        {
            guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Answers every request with a created message (price null), as Twilio does, in a new response each time.</summary>
    private sealed class StubTwilioHandler : HttpMessageHandler
    {
        private static readonly byte[] s_created = Encoding.UTF8.GetBytes(
            $$"""{"account_sid":"{{AccountSid}}","api_version":"2010-04-01","body":"Your order #1042 has shipped and will arrive on Thursday. Reply STOP to opt out.","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":null,"date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+14155550100","num_media":"0","num_segments":"1","price":null,"price_unit":null,"messaging_service_sid":null,"sid":"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"queued","subresource_uris":{"media":"/2010-04-01/Accounts/{{AccountSid}}/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Media.json"},"to":"+14155550199","uri":"/2010-04-01/Accounts/{{AccountSid}}/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"}""");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new ByteArrayContent(s_created);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created) { Content = content, RequestMessage = request });
        }
    }
}
