namespace Keybrake.Client.Resend;

/// <summary>Resend helpers for Keybrake without dependency injection.</summary>
public static class KeybrakeGuardResendExtensions
{
    /// <summary>Resend's API address, which the SDK also sets as the client's base address.</summary>
    public static readonly Uri ResendApi = new("https://api.resend.com/");

    /// <summary>
    /// Creates an <see cref="HttpClient"/> for the Resend API whose calls pass the guard. Hand it to the SDK,
    /// <c>ResendClient.Create(new ResendClientOptions { ApiToken = "vault_key_..." }, http)</c>, or send requests
    /// on it yourself with the brake key as the Bearer token.
    /// </summary>
    /// <param name="guard">The guard, built with <c>AddResend()</c>.</param>
    /// <param name="innerHandler">What sends the allowed requests; a pooled <see cref="SocketsHttpHandler"/> when empty.</param>
    public static HttpClient CreateResendHttpClient(this KeybrakeGuard guard, HttpMessageHandler? innerHandler = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        var client = guard.CreateHttpClient(ResendVendorProfile.VendorName, innerHandler);
        client.BaseAddress = ResendApi;
        return client;
    }
}
