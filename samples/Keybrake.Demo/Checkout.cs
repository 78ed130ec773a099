using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Stripe;

namespace Keybrake.Client.Demo;

/// <summary>The shop's checkout: charges orders through its own brake key, so Keybrake knows each charge.</summary>
internal static class Checkout
{
    public static async Task<IReadOnlyList<Order>> TakeOrdersAsync(IServiceProvider services, string apiBase, int count, long amountCents)
    {
        var brakeKey = services.GetRequiredService<IOptions<KeybrakeOptions>>().Value.Keys[DemoSettings.CheckoutKey].BrakeKey;
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeStripeBuilderExtensions.HttpClientName);
        var checkout = new StripeClient(new StripeClientOptions { ApiKey = brakeKey, ApiBase = apiBase, HttpClient = new SystemNetHttpClient(http) });
        var charges = new ChargeService(checkout);
        var orders = new List<Order>();
        for (var i = 1; i <= count; i++)
        {
            var charge = await charges.CreateAsync(new ChargeCreateOptions
            {
                Amount = amountCents,
                Currency = "usd",
                Customer = $"cus_demo_{i:D2}",
                Description = $"Order #{1000 + i}",
            });
            orders.Add(new Order(charge.Id, charge.Description));
        }

        return orders;
    }
}
