// What a user of the packages does, end to end: the README's registration and configuration, compiled against the
// packed packages, then one guarded Stripe.net call that reaches a local stand-in for api.stripe.com, and one that
// the key's policy denies before anything is sent. Exit 0 only when both behave as the README says.
using Keybrake.Client;
using Keybrake.Client.Stripe;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stripe;

var received = new List<string>();
var standIn = WebApplication.CreateSlimBuilder();
standIn.WebHost.UseUrls("http://127.0.0.1:0");
standIn.Logging.ClearProviders();
await using var stripe = standIn.Build();
stripe.MapGet("/v1/customers/{id}", (string id, HttpRequest request) =>
{
    lock (received)
    {
        received.Add($"{request.Method} {request.Path} {request.Headers.Authorization}");
    }

    return Results.Text($$"""{"id":"{{id}}","object":"customer","livemode":false}""", "application/json");
});
await stripe.StartAsync();
var url = stripe.Urls.Single();

// The README's configuration, with the key's secret allowed to go to the stand-in instead of api.stripe.com.
var configuration = new ConfigurationBuilder()
    .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
    .AddInMemoryCollection(new Dictionary<string, string?> { ["Keybrake:Keys:refund-agent:VendorEndpoint"] = url })
    .Build();
var services = new ServiceCollection();
services.AddSingleton<IConfiguration>(configuration);
ReadmeSnippet.Register(services);
services.Configure<KeybrakeStripeClientOptions>(o => o.ApiBase = url);
await using var provider = services.BuildServiceProvider();
var client = provider.GetRequiredService<StripeClient>();

var customer = await new CustomerService(client).GetAsync("cus_QXg1o8vcGmoR32");
string? payoutDenial = null;
try
{
    await new PayoutService(client).CreateAsync(new PayoutCreateOptions { Amount = 100, Currency = "usd" });
}
catch (StripeException denied)
{
    payoutDenial = denied.StripeError?.Code;
}

var secret = configuration["Keybrake:Keys:refund-agent:VendorSecret"];
var brakeKey = configuration["Keybrake:Keys:refund-agent:BrakeKey"];
string[] seen;
lock (received)
{
    seen = [.. received];
}

var failures = new List<string>();
if (customer.Id != "cus_QXg1o8vcGmoR32")
{
    failures.Add($"the guarded GET returned '{customer.Id}'");
}

if (seen.Length != 1 || !seen[0].EndsWith($"Bearer {secret}", StringComparison.Ordinal) || seen[0].Contains(brakeKey!, StringComparison.Ordinal))
{
    failures.Add($"the stand-in should have seen one GET carrying the vendor secret, not the brake key; it saw {seen.Length} requests");
}

if (payoutDenial != "keybrake_endpoint_not_allowed")
{
    failures.Add($"the payout should have been denied keybrake_endpoint_not_allowed, got '{payoutDenial ?? "no denial"}'");
}

foreach (var failure in failures)
{
    Console.Error.WriteLine($"consumer check: {failure}");
}

Console.WriteLine(failures.Count == 0
    ? "consumer check: the packed packages install, the README snippet compiles, one guarded call reached the stand-in and a payout was denied"
    : "consumer check: FAILED");
return failures.Count == 0 ? 0 : 1;
