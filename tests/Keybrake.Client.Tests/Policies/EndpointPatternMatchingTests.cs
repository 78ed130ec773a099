namespace Keybrake.Client.Tests;

public sealed class EndpointPatternMatchingTests
{
    [TestCase("POST /v1/spend", "POST", "/v1/spend", true)]
    [TestCase("POST /v1/spend", "POST", "/v1/spend/extra", false)]
    [TestCase("POST /v1/spend", "POST", "/v1", false)]
    [TestCase("POST /v1/spend", "POST", "/v1/Spend", false)]
    [TestCase("POST /v1/spend", "GET", "/v1/spend", false)]
    [TestCase("post /v1/spend", "POST", "/v1/spend", true)]
    [TestCase("POST /v1/spend", "post", "/v1/spend", true)]
    [TestCase("* /v1/spend", "DELETE", "/v1/spend", true)]
    [TestCase("GET /v1/items/*", "GET", "/v1/items/it_1", true)]
    [TestCase("GET /v1/items/*", "GET", "/v1/items", false)]
    [TestCase("GET /v1/items/*", "GET", "/v1/items/it_1/parts", false)]
    [TestCase("GET /v1/*/parts", "GET", "/v1/it_1/parts", true)]
    [TestCase("GET /v1/*/parts", "GET", "/v1/it_1/other", false)]
    [TestCase("GET /v1/**", "GET", "/v1", true)]
    [TestCase("GET /v1/**", "GET", "/v1/items", true)]
    [TestCase("GET /v1/**", "GET", "/v1/items/it_1/parts/p_2", true)]
    [TestCase("GET /v1/**", "GET", "/v2/items", false)]
    [TestCase("GET /**", "GET", "/", true)]
    [TestCase("GET /", "GET", "/", true)]
    [TestCase("GET /", "GET", "/v1", false)]
    public void A_rule_matches_literal_segments_single_wildcards_and_a_trailing_rest_wildcard(string rule, string method, string path, bool matches)
    {
        Assert.That(EndpointPattern.TryParse(rule, out var pattern, out var error), Is.True, error);

        Assert.That(pattern!.Matches(method, Segments(path)), Is.EqualTo(matches));
    }

    internal static string[] Segments(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
