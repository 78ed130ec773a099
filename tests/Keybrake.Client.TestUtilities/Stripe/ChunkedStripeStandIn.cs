using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.TestUtilities.Stripe;

/// <summary>
/// A stand-in for Stripe on a real Kestrel port on loopback that answers <c>POST /v1/charges</c> with a charge
/// whose embedded <c>refunds</c> list is large, written in chunks with no Content-Length (HTTP/1.1 chunked
/// transfer encoding): a body whose length the guard cannot know before reading it. WireMock always sends a
/// length, so it cannot stand in for this.
/// </summary>
public sealed class ChunkedStripeStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private ChunkedStripeStandIn(WebApplication app, string url, string body, int refunds)
    {
        _app = app;
        Url = url;
        Body = body;
        RefundCount = refunds;
    }

    /// <summary>The base URL to give Stripe.net as its API base.</summary>
    public string Url { get; }

    /// <summary>The charge the stand-in answers with, exactly as sent.</summary>
    public string Body { get; }

    /// <summary>How many refunds the charge's list holds.</summary>
    public int RefundCount { get; }

    /// <summary>How many charge requests reached the stand-in.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Starts the stand-in with a charge of about <paramref name="approximateBytes"/> bytes.</summary>
    public static async Task<ChunkedStripeStandIn> StartAsync(int approximateBytes, long amount = 1000)
    {
        var (body, refunds) = LargeCharge(approximateBytes, amount);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        ChunkedStripeStandIn? standIn = null;
        app.MapPost("/v1/charges", async context =>
        {
            Interlocked.Increment(ref standIn!._requests);
            context.Response.ContentType = "application/json";
            var bytes = Encoding.UTF8.GetBytes(body);
            const int ChunkBytes = 8 * 1024;
            for (var offset = 0; offset < bytes.Length; offset += ChunkBytes)
            {
                // Flushing each piece forces chunked framing: no Content-Length is ever sent.
                await context.Response.Body.WriteAsync(bytes.AsMemory(offset, Math.Min(ChunkBytes, bytes.Length - offset)), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        standIn = new ChunkedStripeStandIn(app, address, body, refunds);
        return standIn;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static (string Body, int Refunds) LargeCharge(int approximateBytes, long amount)
    {
        var charge = StripeFixtures.Resource("charge");
        charge["id"] = "ch_chunked_large";
        charge["amount"] = amount;
        charge["amount_captured"] = amount;
        charge["currency"] = "usd";
        charge["captured"] = true;
        var refund = StripeFixtures.Resource("refund");
        var data = new JsonArray();
        var size = 0;
        while (size < approximateBytes)
        {
            var item = refund.DeepClone().AsObject();
            item["id"] = "re_" + data.Count.ToString("D8", CultureInfo.InvariantCulture);
            item["amount"] = 0L;
            size += item.ToJsonString().Length;
            data.Add(item);
        }

        var count = data.Count;
        charge["refunds"] = new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["has_more"] = false,
            ["total_count"] = count,
            ["url"] = "/v1/charges/ch_chunked_large/refunds",
        };
        return (charge.ToJsonString(), count);
    }
}
