using Google.Protobuf;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// JSON transcoding skips fields it does not know, so a policy sent over REST with a misspelt field
/// (<c>"denyEndpoint"</c>) would be stored without the rule the operator meant. Before transcoding reads them,
/// the bodies that carry a policy are parsed strictly; a field the message does not have is a 400 naming it.
/// </summary>
internal static class StrictPolicyBodies
{
    private static readonly JsonParser s_strict = new(JsonParser.Settings.Default);

    public static IApplicationBuilder UseStrictPolicyBodies(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var parser = Target(http.Request);
        if (parser is not null)
        {
            http.Request.EnableBuffering();
            using var reader = new StreamReader(http.Request.Body, leaveOpen: true);
            var body = await reader.ReadToEndAsync(http.RequestAborted);
            http.Request.Body.Position = 0;
            try
            {
                parser(body);
            }
            catch (InvalidProtocolBufferException exception)
            {
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                await http.Response.WriteAsJsonAsync(new { code = 3, message = $"the request body is not valid: {exception.Message}" }, http.RequestAborted);
                return;
            }
            catch (InvalidJsonException exception)
            {
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                await http.Response.WriteAsJsonAsync(new { code = 3, message = $"the request body is not valid JSON: {exception.Message}" }, http.RequestAborted);
                return;
            }
        }

        await next(http);
    });

    /// <summary>The strict parse for the body of <c>POST /v1/keys</c> and <c>PUT /v1/keys/{id}/policy</c>; none for the rest.</summary>
    private static Action<string>? Target(HttpRequest request)
    {
        var path = request.Path.Value ?? string.Empty;
        if (HttpMethods.IsPost(request.Method) && path.TrimEnd('/') == "/v1/keys")
        {
            return body => s_strict.Parse<CreateKeyRequest>(body);
        }

        if (HttpMethods.IsPut(request.Method) && path.StartsWith("/v1/keys/", StringComparison.Ordinal) && path.TrimEnd('/').EndsWith("/policy", StringComparison.Ordinal))
        {
            return body => s_strict.Parse<Policy>(body);
        }

        return null;
    }
}
