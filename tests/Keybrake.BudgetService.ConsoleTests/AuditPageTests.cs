using System.Net;
using System.Text.RegularExpressions;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The Audit page's filters and paging over plain HTTP, on records submitted as a guard would.</summary>
public sealed partial class AuditPageTests
{
    [Test]
    public async Task The_reason_filter_fills_pages_of_50_across_the_stores_batches_and_the_next_link_reaches_the_rest()
    {
        await using var service = await ConsoleService.StartAsync();
        var start = new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
        var submit = new SubmitAuditRequest();
        for (var i = 0; i < 260; i++)
        {
            // Every fourth record is a rate_limited denial: 65 of them, spread over more records than one batch of the page's reads.
            var limited = i % 4 == 0;
            submit.Records.Add(new AuditRecord
            {
                RecordId = $"aud_console_{i:D4}",
                TimestampUnixMicros = start.AddSeconds(i).ToUnixTimeMilliseconds() * 1000,
                KeyId = ConsoleService.KeyId,
                Vendor = "stripe",
                Method = "POST",
                Endpoint = "/v1/charges",
                Decision = limited ? "deny" : "allow",
                Reason = limited ? "rate_limited" : string.Empty,
                RunId = "run-audit",
            });
        }

        await service.Budget.SubmitAuditAsync(submit);
        using var http = new ConsoleHttp(service.Service.RestAddress);
        (await http.SignInAsync()).Dispose();

        var first = await http.Client.GetStringAsync("/console/audit?reason=rate_limited&key=agent");
        var next = WebUtility.HtmlDecode(NextLink().Match(first).Groups[1].Value);
        var second = await http.Client.GetStringAsync(next);
        var everything = await http.Client.GetStringAsync("/console/audit?run=run-audit");
        var bad = await http.Client.GetStringAsync("/console/audit?from=yesterday");

        Assert.Multiple(() =>
        {
            Assert.That(Records().Count(first), Is.EqualTo(50));
            Assert.That(Limited().Count(first), Is.EqualTo(50), "every record on the page is a rate_limited denial");
            Assert.That(next, Does.StartWith("/console/audit?"));
            Assert.That(Records().Count(second), Is.EqualTo(15));
            Assert.That(NextLink().IsMatch(second), Is.False, "the last page has no next link");
            Assert.That(Records().Count(everything), Is.EqualTo(50));
            Assert.That(NextLink().IsMatch(everything), Is.True);
            Assert.That(bad, Does.Contain("from must be an RFC 3339 time"));
        });
    }

    [GeneratedRegex("class=\"record\"")]
    private static partial Regex Records();

    [GeneratedRegex("<code>rate_limited</code>")]
    private static partial Regex Limited();

    [GeneratedRegex("href=\"([^\"]+)\" id=\"next-page\"")]
    private static partial Regex NextLink();
}
