namespace Keybrake.Client.Tests;

public sealed class EndpointPatternParsingTests
{
    [TestCase("", "an endpoint rule is empty")]
    [TestCase("   ", "an endpoint rule is empty")]
    [TestCase("POST", "endpoint rule 'POST' is not 'METHOD /path'")]
    [TestCase("POST /v1/spend extra", "is not 'METHOD /path'")]
    [TestCase("POST v1/spend", "has a path that does not start with '/'")]
    [TestCase("P0ST /v1/spend", "has method 'P0ST', which is neither an HTTP method nor '*'")]
    [TestCase("GET/ /v1", "has method 'GET/'")]
    [TestCase("GET /v1/**/items", "uses '**' before the end of the path")]
    [TestCase("POST /v1/pay*", "has segment 'pay*': '*' and '**' stand for whole segments only")]
    [TestCase("POST /v1/*outs", "has segment '*outs'")]
    [TestCase("POST /v1/***", "has segment '***'")]
    public void A_malformed_rule_is_rejected_with_a_message_that_says_what_is_wrong(string text, string expected)
    {
        var ok = EndpointPattern.TryParse(text, out var pattern, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(pattern, Is.Null);
            Assert.That(error, Does.Contain(expected));
        });
    }

    [Test]
    public void A_null_rule_is_rejected_as_empty()
    {
        var ok = EndpointPattern.TryParse(null, out _, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(error, Does.Contain("empty"));
        });
    }

    [TestCase("POST /v1/spend")]
    [TestCase("  get   /v1/items/*  ")]
    [TestCase("* /v1/**")]
    [TestCase("DELETE /")]
    public void A_well_formed_rule_parses_and_keeps_its_text_trimmed(string text)
    {
        var ok = EndpointPattern.TryParse(text, out var pattern, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.True, error);
            Assert.That(pattern!.Text, Is.EqualTo(text.Trim()));
            Assert.That(pattern.ToString(), Is.EqualTo(text.Trim()));
        });
    }
}
