using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Keybrake.Client.Twilio;

/// <summary>
/// A denial in Twilio's error shape, <c>{"code":900008,"message":"keybrake_daily_cap_exceeded: ...",
/// "more_info":...,"status":402}</c>, so the Twilio SDK raises its ordinary <c>ApiException</c> (Code,
/// Status, Message, MoreInfo) instead of a connection error. The SDK never retries; the status is a 4xx anyway.
/// </summary>
internal static class TwilioDenialResponse
{
    public const string MoreInfo = "https://github.com/keybrake/keybrake-client#twilio";

    public static HttpResponseMessage Create(GuardDenial denial)
    {
        var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteNumber("code", TwilioErrorCodes.For(denial.Reason));
            json.WriteString("message", $"{TwilioErrorCodes.MessagePrefix}{denial.Reason}: {denial.Message}");
            json.WriteString("more_info", MoreInfo);
            json.WriteNumber("status", denial.StatusCode);
            json.WriteEndObject();
        }

        var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return new HttpResponseMessage((HttpStatusCode)denial.StatusCode) { Content = content };
    }
}
