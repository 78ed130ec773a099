using System.Text;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace Keybrake.Client.TestUtilities.Http;

/// <summary>
/// Makes a stand-in answer like a careless vendor or proxy: an error whose body and <c>X-Echo-Authorization</c>
/// header repeat the request's <c>Authorization</c> header (and whatever else the body function derives from it).
/// </summary>
public static class AuthorizationEcho
{
    public const string EchoHeader = "X-Echo-Authorization";

    /// <summary>Answers every request to <paramref name="path"/> with <paramref name="status"/> and the echo, ahead of the stand-in's own mappings.</summary>
    public static void Answer(WireMockServer server, string path, int status, Func<string, string> body)
    {
        server.Given(Request.Create().WithPath(path))
            .AtPriority(1)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var authorization = request.Headers is { } headers && headers.TryGetValue("Authorization", out var values) ? string.Join(",", values) : string.Empty;
                return new ResponseMessage
                {
                    StatusCode = status,
                    Headers = new Dictionary<string, WireMockList<string>>
                    {
                        ["Content-Type"] = new("application/json"),
                        [EchoHeader] = new(authorization),
                    },
                    BodyData = new BodyData
                    {
                        BodyAsString = body(authorization),
                        DetectedBodyType = BodyType.String,
                        Encoding = Encoding.UTF8,
                    },
                };
            }));
    }

    /// <summary>The password of a Basic <c>Authorization</c> header value, decoded; empty when it is not one.</summary>
    public static string BasicPassword(string authorization)
    {
        const string prefix = "Basic ";
        if (!authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return string.Empty;
        }

        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[prefix.Length..]));
        return decoded[(decoded.IndexOf(':', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>A JSON string literal of <paramref name="value"/>, as a vendor would write it (without escaping '/').</summary>
    public static string JsonString(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
