using System.Net;

namespace Keybrake.Client.Resend.Tests.Sdk;

/// <summary>
/// What the Resend SDK's <c>ResendException</c> carries: the status from the error body's <c>statusCode</c>, the
/// error name (the SDK's <c>ErrorType</c>), the message, and whether the SDK calls it transient. A body whose
/// <c>name</c> the SDK does not know ends up as the SDK's <c>deserialization</c> error, as in the SDK.
/// </summary>
internal sealed class ResendApiException : Exception
{
    public ResendApiException(HttpStatusCode? statusCode, string errorName, string message, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
        ErrorName = errorName;
    }

    public ResendApiException()
    {
        ErrorName = string.Empty;
    }

    public ResendApiException(string message)
        : base(message)
    {
        ErrorName = string.Empty;
    }

    public ResendApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorName = string.Empty;
    }

    public HttpStatusCode? StatusCode { get; }

    public string ErrorName { get; }

    /// <summary>The response's <c>Keybrake-Decision</c> header (the SDK does not expose headers; tests read it here).</summary>
    public string? Decision { get; init; }

    public bool IsTransient => ResendSdkErrorNames.IsTransient(ErrorName);
}
