using Keybrake.Client;
using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>
/// The Runs page and a run's page show the LLM spend LiteLLM reported for a run beside its SaaS dollars. The LLM spend
/// is written straight into the service's store (<see cref="LlmSpendSeed"/>), as its LiteLLM intake writes it.
/// </summary>
public sealed class LlmSpendPageTests : BrowserTest
{
    private const string RunId = "run-console-llm";
    private const string TokensOnlyRun = "run-console-tokens-only";

    protected override IDictionary<string, string?>? ServiceSettings => new Dictionary<string, string?>
    {
        [$"BudgetService:Keys:{ConsoleService.KeyId}:Policy:RunCapIncludes:0"] = "llm",
    };

    [Test]
    public async Task The_runs_page_and_the_run_page_show_LLM_tokens_beside_SaaS_dollars_and_what_the_combined_cap_has_left()
    {
        await SignInAsync("/console/runs");
        await Page.EvaluateAsync("() => { window.keybrakeMark = 'same page'; }");
        var started = new DateTimeOffset(2026, 3, 10, 11, 0, 0, TimeSpan.Zero);
        await LlmSpendSeed.IntoFileAsync(Service.Service.StoragePath,
            new LlmSpendRow("chatcmpl-1", RunId, 30_000_000, "gpt-4o", "openai", started),
            new LlmSpendRow("chatcmpl-2", RunId, 10_000_000, "claude-sonnet-4", "anthropic", started.AddMinutes(1)),
            new LlmSpendRow("chatcmpl-3", TokensOnlyRun, 2_000_000, "gpt-4o-mini", "openai", started));

        // The key's $50 run cap counts the $40 of tokens: $5 of charges fit, $6 more would not.
        string? first, second;
        using (KeybrakeRun.Begin(RunId))
        {
            first = await Service.ChargeAsync(500);
            second = await Service.ChargeAsync(600);
        }

        Assert.That((first, second), Is.EqualTo(((string?)null, "run_cap_exceeded")));

        // The live region brings both runs in without a reload: one with dollars and tokens, one with tokens only.
        var row = Page.Locator("#runs tr", new() { HasText = RunId });
        await Expect(row.Locator("td.llm")).ToHaveTextAsync("$40.00");
        await Expect(row).ToContainTextAsync("$45.00");
        await Expect(Page.Locator("#runs tr", new() { HasText = TokensOnlyRun }).Locator("td.llm")).ToHaveTextAsync("$2.00");
        Assert.That(await Page.EvaluateAsync<string>("() => window.keybrakeMark"), Is.EqualTo("same page"));
        await ScreenshotAsync("runs-llm");

        await row.Locator("a").ClickAsync();
        await Expect(Page.Locator("#run-saas")).ToHaveTextAsync("$5.00");
        await Expect(Page.Locator("#run-llm-cost")).ToHaveTextAsync("$40.00");
        await Expect(Page.Locator("#run-combined")).ToHaveTextAsync("$45.00");
        await Expect(Page.Locator("p.combined-cap")).ToContainTextAsync("$50.00, counts LLM tokens: $45.00 counted, $5.00 left.");
        await Expect(Page.Locator("#run-llm-models tbody tr")).ToHaveCountAsync(2);
        await Expect(Page.Locator("#run-llm-models tbody tr").First).ToContainTextAsync("gpt-4o");
        await Expect(Page.Locator("#run-denials")).ToContainTextAsync("$40.00 of LLM tokens");
        await ScreenshotAsync("run-llm");
    }
}
