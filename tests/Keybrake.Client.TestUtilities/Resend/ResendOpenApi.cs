using System.Text.Json.Nodes;

namespace Keybrake.Client.TestUtilities.Resend;

/// <summary>Resend's own OpenAPI description (resend.json from resend/resend-openapi), for checking request shapes against it.</summary>
public static class ResendOpenApi
{
    private static readonly Lazy<JsonObject> s_document = new(Load);

    /// <summary>The API's server address as the description gives it.</summary>
    public static string ServerUrl => s_document.Value["servers"]![0]!["url"]!.GetValue<string>();

    /// <summary>The fields a schema in <c>components.schemas</c> requires.</summary>
    public static IReadOnlyList<string> RequiredFields(string schema) =>
        Schema(schema)["required"]?.AsArray().Select(n => n!.GetValue<string>()).ToList() ?? [];

    /// <summary>The property names a schema in <c>components.schemas</c> defines.</summary>
    public static IReadOnlySet<string> Properties(string schema) =>
        Schema(schema)["properties"]!.AsObject().Select(p => p.Key).ToHashSet(StringComparer.Ordinal);

    /// <summary>The operation for a method and a path template such as <c>/emails/batch</c>, or <see langword="null"/>.</summary>
    public static JsonObject? Operation(string method, string pathTemplate) =>
        s_document.Value["paths"]?[pathTemplate]?[method.ToLowerInvariant()]?.AsObject();

    /// <summary>The header parameters an operation documents, such as <c>Idempotency-Key</c>.</summary>
    public static IReadOnlyList<string> HeaderParameters(string method, string pathTemplate) =>
        Operation(method, pathTemplate)?["parameters"]?.AsArray()
            .Where(p => p!["in"]?.GetValue<string>() == "header")
            .Select(p => p!["name"]!.GetValue<string>())
            .ToList() ?? [];

    /// <summary>The <c>$ref</c> of an operation's JSON request body schema (for an array, of its items).</summary>
    public static string? RequestSchema(string method, string pathTemplate)
    {
        var schema = Operation(method, pathTemplate)?["requestBody"]?["content"]?["application/json"]?["schema"];
        return (schema?["items"]?["$ref"] ?? schema?["$ref"])?.GetValue<string>().Split('/')[^1];
    }

    private static JsonObject Schema(string name) =>
        s_document.Value["components"]!["schemas"]![name]?.AsObject() ?? throw new ArgumentException($"resend.json has no schema '{name}'.", nameof(name));

    private static JsonObject Load()
    {
        using var stream = typeof(ResendOpenApi).Assembly.GetManifestResourceStream("Keybrake.Client.TestUtilities.resend.resend.json")
            ?? throw new InvalidOperationException("resend.json is not embedded.");
        return JsonNode.Parse(stream)!.AsObject();
    }
}
