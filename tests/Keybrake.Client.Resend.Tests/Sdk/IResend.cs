namespace Keybrake.Client.Resend.Tests.Sdk;

/// <summary>
/// The part of the Resend SDK's <c>IResend</c> the tests drive. Same name on purpose: the SDK registers its
/// client with <c>AddHttpClient&lt;IResend, ResendClient&gt;()</c>, whose <see cref="HttpClient"/> is named after
/// this interface, "IResend"; registering this one the same way gives the same name.
/// </summary>
internal interface IResend
{
    Task<Guid> EmailSendAsync(EmailMessage email, CancellationToken cancellationToken = default);

    Task<Guid> EmailSendAsync(string idempotencyKey, EmailMessage email, CancellationToken cancellationToken = default);

    /// <summary>A batch in strict validation (all or nothing), as the SDK's overload without a mode sends it.</summary>
    Task<List<Guid>> EmailBatchAsync(IEnumerable<EmailMessage> emails, CancellationToken cancellationToken = default);

    Task<EmailBatchResponse> EmailBatchAsync(IEnumerable<EmailMessage> emails, string validationMode, string? idempotencyKey = null, CancellationToken cancellationToken = default);

    Task BroadcastSendAsync(Guid broadcastId, CancellationToken cancellationToken = default);

    Task<List<string>> DomainListAsync(CancellationToken cancellationToken = default);
}
