namespace Keybrake.Client.Tests;

public sealed class EndpointRulesTests
{
    [Test]
    public void No_rules_allow_every_call()
    {
        Assert.Multiple(() =>
        {
            Assert.That(EndpointRules.AllowAll.Check("POST", Segments("/v1/spend")), Is.Null);
            Assert.That(Rules(allow: [], deny: []).Check("DELETE", Segments("/anything/at/all")), Is.Null);
        });
    }

    [Test]
    public void A_deny_rule_wins_over_a_matching_allow_rule()
    {
        var rules = Rules(allow: ["* /v1/**"], deny: ["POST /v1/payouts/**"]);

        Assert.Multiple(() =>
        {
            Assert.That(rules.Check("POST", Segments("/v1/payouts/po_1")), Is.EqualTo("the key's deny rule 'POST /v1/payouts/**' matches"));
            Assert.That(rules.Check("GET", Segments("/v1/payouts/po_1")), Is.Null, "the deny rule is for POST only");
            Assert.That(rules.Check("POST", Segments("/v1/spend")), Is.Null);
        });
    }

    [Test]
    public void A_deny_rule_matches_the_path_in_any_case_and_an_allow_rule_only_as_written()
    {
        var rules = Rules(allow: ["* /v1/**", "GET /v2/customers/cus_ABC"], deny: ["* /v1/payouts/**"]);

        Assert.Multiple(() =>
        {
            Assert.That(rules.Check("POST", Segments("/V1/Payouts/po_1")), Is.EqualTo("the key's deny rule '* /v1/payouts/**' matches"), "found by RequestPathProperties");
            Assert.That(rules.Check("POST", Segments("/v1/PAYOUTS")), Is.Not.Null);
            Assert.That(rules.Check("GET", Segments("/v2/customers/cus_ABC")), Is.Null);
            Assert.That(rules.Check("GET", Segments("/v2/customers/cus_abc")), Is.EqualTo("no allow rule of the key matches"), "an id in another case is another object");
        });
    }

    [Test]
    public void With_allow_rules_present_an_unmatched_call_is_denied()
    {
        var rules = Rules(allow: ["POST /v1/spend", "GET /v1/items/*"], deny: []);

        Assert.Multiple(() =>
        {
            Assert.That(rules.Check("POST", Segments("/v1/spend")), Is.Null);
            Assert.That(rules.Check("GET", Segments("/v1/items/it_1")), Is.Null);
            Assert.That(rules.Check("DELETE", Segments("/v1/items/it_1")), Is.EqualTo("no allow rule of the key matches"));
            Assert.That(rules.Check("POST", Segments("/v1/refunds")), Is.EqualTo("no allow rule of the key matches"));
        });
    }

    [Test]
    public void With_only_deny_rules_everything_else_is_allowed()
    {
        var rules = Rules(allow: [], deny: ["* /v1/payouts/**"]);

        Assert.Multiple(() =>
        {
            Assert.That(rules.Check("GET", Segments("/v1/payouts")), Is.Not.Null);
            Assert.That(rules.Check("POST", Segments("/v1/spend")), Is.Null);
        });
    }

    private static string[] Segments(string path) => EndpointPatternMatchingTests.Segments(path);

    private static EndpointRules Rules(string[] allow, string[] deny) => new(Parse(allow), Parse(deny));

    private static EndpointPattern[] Parse(string[] rules) =>
        [.. rules.Select(rule => EndpointPattern.TryParse(rule, out var pattern, out var error) ? pattern : throw new ArgumentException(error))];
}
