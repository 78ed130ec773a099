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

    /// <summary>The strict parse for the body of <c>CreateKey</c> and <c>UpdateKeyPolicy</c> over REST; none for the rest.</summary>
    private static Action<string>? Target(HttpContext http) =>
        http.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>()?.MethodDescriptor.Name switch
        {
            nameof(BudgetAdmin.BudgetAdminBase.CreateKey) => body => s_strict.Parse<CreateKeyRequest>(body),
            nameof(BudgetAdmin.BudgetAdminBase.UpdateKeyPolicy) => body => s_strict.Parse<Policy>(body),
            _ => null,
        };

    /// <summary>The parser's message names the field, and may quote the body: a long one is cut.</summary>
    private static string Short(string message) =>
        message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "...";

    private static Task RefuseAsync(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new { code = 3, message }, http.RequestAborted);
    }
}
