using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend.Tests.Sdk;

/// <summary>The options the Resend SDK's client takes: the API URL and the token (here, the brake key).</summary>
internal sealed class ResendSdkOptions
{
    public string ApiUrl { get; set; } = "https://api.resend.com";

    public string ApiToken { get; set; } = string.Empty;
}

/// <summary>
/// A client that sends exactly what the Resend SDK's <c>ResendClient</c> sends, and reads answers as it does: the
/// constructor sets the base address, <c>Authorization: Bearer &lt;token&gt;</c>, <c>Accept: application/json</c>
/// and the SDK's <c>User-Agent</c>; sends are <c>POST /emails</c> and <c>POST /emails/batch</c> with
/// <c>JsonContent</c> bodies, <c>Idempotency-Key</c> when given, and <c>x-batch-validation</c> always on batches
/// (<c>strict</c> unless a mode is chosen); a failed call's body <c>{"statusCode","name","message"}</c> becomes
/// the exception, with the status taken from the body.
/// </summary>
internal sealed class ResendSdkShapedClient : IResend
{
    private readonly HttpClient _http;

    public ResendSdkShapedClient(IOptions<ResendSdkOptions> options, HttpClient httpClient)
    {
        _http = httpClient;
        _http.BaseAddress = new Uri(options.Value.ApiUrl);
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Value.ApiToken);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("resend-sdk", "0.2.0"));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("dotnet", Environment.Version.ToString()));
    }

    public async Task<Guid> EmailSendAsync(EmailMessage email, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/emails") { Content = JsonContent.Create(email) };
        return (await ExecuteAsync<ObjectId>(request, cancellationToken)).Id;
    }

    public async Task<Guid> EmailSendAsync(string idempotencyKey, EmailMessage email, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/emails") { Content = JsonContent.Create(email) };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return (await ExecuteAsync<ObjectId>(request, cancellationToken)).Id;
    }

    public async Task<List<Guid>> EmailBatchAsync(IEnumerable<EmailMessage> emails, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/emails/batch") { Content = JsonContent.Create(emails) };
        request.Headers.Add("x-batch-validation", "strict");
        return (await ExecuteAsync<EmailBatchResponse>(request, cancellationToken)).Data.Select(d => d.Id).ToList();
    }

    public async Task<EmailBatchResponse> EmailBatchAsync(IEnumerable<EmailMessage> emails, string validationMode, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/emails/batch") { Content = JsonContent.Create(emails) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        request.Headers.Add("x-batch-validation", validationMode);
        return await ExecuteAsync<EmailBatchResponse>(request, cancellationToken);
    }

    public async Task BroadcastSendAsync(Guid broadcastId, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/broadcasts/{broadcastId}/send") { Content = JsonContent.Create(new { }) };
        await ExecuteAsync<ObjectId>(request, cancellationToken);
    }

    public async Task<List<string>> DomainListAsync(CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/domains");
        return (await ExecuteAsync<DomainList>(request, cancellationToken)).Data.Select(d => d.ToString()).ToList();
    }

    private async Task<T> ExecuteAsync<T>(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        }
        catch (TaskCanceledException)
        {
            throw;
        }
        catch (Exception exception)
        {
            throw new ResendApiException(null, "http_send_failed", exception.Message, exception);
        }

        using (response)
        {
            var decision = response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var values) ? values.Single() : null;
            if (!response.IsSuccessStatusCode)
            {
                ErrorResponse? error;
                try
                {
                    error = await response.Content.ReadFromJsonAsync<ErrorResponse>(cancellationToken);
                }
                catch (JsonException exception)
                {
                    throw new ResendApiException(response.StatusCode, "deserialization", "Failed deserializing error response", exception) { Decision = decision };
                }

                if (error is null)
                {
                    throw new ResendApiException(response.StatusCode, "missing_response", "Missing error response") { Decision = decision };
                }

                // The SDK maps "name" to its ErrorType enum and fails on a name it does not know.
                if (!ResendSdkErrorNames.IsKnown(error.Name))
                {
                    throw new ResendApiException(response.StatusCode, "deserialization", "Failed deserializing error response") { Decision = decision };
                }

                throw new ResendApiException((HttpStatusCode)error.StatusCode, error.Name, error.Message) { Decision = decision };
            }

            return await response.Content.ReadFromJsonAsync<T>(cancellationToken)
                ?? throw new ResendApiException(response.StatusCode, "missing_response", "Missing response");
        }
    }

    private sealed class ErrorResponse
    {
        [JsonPropertyName("statusCode")]
        public int StatusCode { get; set; }

        [JsonPropertyName("name")]
        public string Name { get; set; } = string.Empty;

        [JsonPropertyName("message")]
        public string Message { get; set; } = string.Empty;
    }

    private sealed class ObjectId
    {
        [JsonPropertyName("id")]
        public Guid Id { get; set; }
    }

    private sealed class DomainList
    {
        [JsonPropertyName("data")]
        public List<JsonElement> Data { get; set; } = [];
    }
}
