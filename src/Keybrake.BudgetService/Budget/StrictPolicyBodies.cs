using Google.Protobuf;
using Keybrake.Protocol;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// JSON transcoding skips fields it does not know, so a policy sent over REST with a misspelt field
/// (<c>"denyEndpoint"</c>) would be stored without the rule the operator meant. Before transcoding reads them,
/// the bodies that carry a policy are parsed strictly; a field the message does not have is a 400 naming it.
/// The body is chosen by the route the request matched (its gRPC method), not by the path's spelling: routing
/// ignores case, so <c>POST /V1/KEYS</c> reaches <c>CreateKey</c> as surely as <c>/v1/keys</c> does.
/// The bodies that carry a vendor secret are parsed strictly too, and refused without a word of their content.
/// Runs after <see cref="AdminRestGate"/>, so no body is read for a caller without the admin token.
/// </summary>
internal static class StrictPolicyBodies
{
    private const int MaxMessageLength = 200;

    private static readonly JsonParser s_strict = new(JsonParser.Settings.Default);

    public static IApplicationBuilder UseStrictPolicyBodies(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var parser = Target(http);
        if (parser is not null)
        {
            http.Request.EnableBuffering();
            string body;
            try
            {
                using var reader = new StreamReader(http.Request.Body, leaveOpen: true);
                body = await reader.ReadToEndAsync(http.RequestAborted);
            }
            catch (BadHttpRequestException exception)
            {
                // Larger than AdminRestGate allows, or cut short.
                await RefuseAsync(http, exception.StatusCode, $"the request body was refused: {exception.Message}");
                return;
            }

            http.Request.Body.Position = 0;
            try
            {
                parser(body);
            }
            catch (Exception exception) when (IsSecretBody(http) && exception is InvalidProtocolBufferException or InvalidJsonException)
            {
                // The parser's message may quote a value, and any value of this body may be the secret (a secret sent
                // as a number, or in the wrong field): the refusal names the shape, never the content.
                await RefuseAsync(http, StatusCodes.Status400BadRequest, SecretBodyRefusal);
                return;
            }
            catch (InvalidProtocolBufferException exception)
            {
                await RefuseAsync(http, StatusCodes.Status400BadRequest, $"the request body is not valid: {Short(exception.Message)}");
                return;
            }
            catch (InvalidJsonException exception)
            {
                await RefuseAsync(http, StatusCodes.Status400BadRequest, $"the request body is not valid JSON: {Short(exception.Message)}");
                return;
            }
        }

        await next(http);
    });

    /// <summary>What a malformed secret body gets: a fixed text, since anything quoted from it could be the secret.</summary>
    public const string SecretBodyRefusal = "the request body is not valid: send {\"secret\":\"...\"} (and, to rotate, \"overlapSeconds\": 0 to 604800), nothing else";

    /// <summary>
    /// The strict parse for the body of <c>CreateKey</c> and <c>UpdateKeyPolicy</c> over REST, and of <c>SetKeySecret</c>
    /// and <c>RotateKeySecret</c> (whose transcoding errors would otherwise quote a bad value); none for the rest.
    /// </summary>
    private static Action<string>? Target(HttpContext http) =>
        Method(http) switch
        {
            nameof(BudgetAdmin.BudgetAdminBase.CreateKey) => body => s_strict.Parse<CreateKeyRequest>(body),
            nameof(BudgetAdmin.BudgetAdminBase.UpdateKeyPolicy) => body => s_strict.Parse<Policy>(body),
            nameof(BudgetAdmin.BudgetAdminBase.SetKeySecret) or nameof(BudgetAdmin.BudgetAdminBase.RotateKeySecret) => body => s_strict.Parse<SetKeySecretRequest>(body),
            _ => null,
        };

    private static bool IsSecretBody(HttpContext http) =>
        Method(http) is nameof(BudgetAdmin.BudgetAdminBase.SetKeySecret) or nameof(BudgetAdmin.BudgetAdminBase.RotateKeySecret);

    private static string? Method(HttpContext http) => http.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>()?.MethodDescriptor.Name;

    /// <summary>The parser's message names the field, and may quote the body: a long one is cut.</summary>
    private static string Short(string message) =>
        message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "...";

    private static Task RefuseAsync(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new { code = 3, message }, http.RequestAborted);
    }
}
