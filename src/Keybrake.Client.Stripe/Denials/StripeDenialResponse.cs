using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Keybrake.Client.Stripe;

/// <summary>
/// A denial in Stripe's error shape, so Stripe.net raises its ordinary <c>StripeException</c> with
/// <c>StripeError.Code == "keybrake_&lt;reason&gt;"</c>, and does not retry: the status is never 409 or 5xx,
/// and <c>Stripe-Should-Retry: false</c> tells the SDK so explicitly.
/// </summary>
internal static class StripeDenialResponse
{
    public const string CodePrefix = "keybrake_";

    public static HttpResponseMessage Create(GuardDenial denial)
    {
        var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("type", "invalid_request_error");
            json.WriteString("code", CodePrefix + denial.Reason);
            json.WriteString("message", denial.Message);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        var response = new HttpResponseMessage((HttpStatusCode)denial.StatusCode) { Content = content };
        response.Headers.TryAddWithoutValidation("Stripe-Should-Retry", "false");
        return response;
    }
}
