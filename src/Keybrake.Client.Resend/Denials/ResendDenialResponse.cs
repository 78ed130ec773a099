using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Keybrake.Client.Resend;

/// <summary>
/// A denial in Resend's error shape, <c>{"statusCode":...,"name":...,"message":...}</c>, so the Resend SDK raises
/// its ordinary <c>ResendException</c>. The SDK maps <c>name</c> to its <c>ErrorType</c> enum and fails with a
/// deserialization error on a name it does not know, so only names the SDK knows are used; the message starts
/// with <c>keybrake_&lt;reason&gt;</c>. The SDK retries nothing, and every name chosen here is one whose
/// <c>ResendException.IsTransient</c> is false, so retry policies that follow that hint leave denials alone.
/// </summary>
internal static class ResendDenialResponse
{
    public const string CodePrefix = "keybrake_";

    /// <summary>Resend's name for a missing or wrong API key.</summary>
    public const string InvalidApiKey = "invalid_api_key";

    /// <summary>Resend's name for a key that may not do what was asked.</summary>
    public const string InvalidAccess = "invalid_access";

    /// <summary>Resend's name for a request that does not validate.</summary>
    public const string ValidationError = "validation_error";

    /// <summary>Resend's name for an unexpected failure.</summary>
    public const string ApplicationError = "application_error";

    /// <summary>The Resend error name a Keybrake reason is reported under.</summary>
    public static string NameFor(string reason) => reason switch
    {
        ReasonCodes.KeyRevoked or ReasonCodes.KeyUnknown => InvalidApiKey,
        ReasonCodes.MalformedRequest or ReasonCodes.RequestTooLarge => ValidationError,
        ReasonCodes.BudgetServiceUnavailable => ApplicationError,
        _ => InvalidAccess,
    };

    public static HttpResponseMessage Create(GuardDenial denial)
    {
        var status = denial.StatusCode;
        var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteNumber("statusCode", status);
            json.WriteString("name", NameFor(denial.Reason));
            json.WriteString("message", $"{CodePrefix}{denial.Reason}: {denial.Message}");
            json.WriteEndObject();
        }

        var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return new HttpResponseMessage((HttpStatusCode)status) { Content = content };
    }
}
