using System.Text.RegularExpressions;
using Google.Protobuf;
using Keybrake.Client;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.ConsoleTests;

public sealed partial class AgentSpendTests : BrowserTest
{
    private const string RunId = "run-console-refunds";

    [Test]
    public async Task A_guarded_agents_spend_shows_on_the_Keys_page_without_a_reload_and_its_run_lists_its_calls_in_order()
    {
        await SignInAsync();
        var keyRow = Page.Locator($"#keys tr[data-key='{ConsoleService.KeyId}']");
        await Expect(keyRow.Locator(".spend-settled")).ToHaveTextAsync("$0.00");

        // A mark on the page's window survives only if the page is never reloaded: the figures must arrive in place.
        await Page.EvaluateAsync("() => { window.keybrakeMark = 'same page'; }");

        using (KeybrakeRun.Begin(RunId))
        {
            Assert.That(await Service.ChargeAsync(1_500), Is.Null);
            Assert.That(await Service.ChargeAsync(2_000), Is.Null);
            Assert.That(await Service.ChargeAsync(500), Is.Null);
        }

        // A call on the other key whose outcome nobody reported: it stays reserved, and counts as unsettled.
        var held = await Service.Budget.AuthorizeAsync(new AuthorizeRequest
        {
            KeyId = ConsoleService.MailerKeyId,
            IdempotencyKey = "idem_console_mail_batch",
            EstimateMicroUsd = 4_000_000,
            RequestHash = ByteString.CopyFrom(new byte[16]),
        });
        Assert.That(held.Allowed, Is.True);

        await Expect(keyRow.Locator(".spend-settled")).ToHaveTextAsync("$40.00");
        var mailerRow = Page.Locator($"#keys tr[data-key='{ConsoleService.MailerKeyId}']");
        await Expect(mailerRow.Locator(".spend-reserved")).ToHaveTextAsync("$4.00");
        await Expect(mailerRow).ToContainTextAsync("America/New_York");
        Assert.That(await Page.EvaluateAsync<string>("() => window.keybrakeMark"), Is.EqualTo("same page"));
        await ScreenshotAsync("keys");
        Screenshots.UpdateDocs("keys.png");

        await keyRow.Locator("a").First.ClickAsync();
        await Expect(Page.Locator("#key-runs")).ToContainTextAsync(RunId);
        await Expect(Page.Locator("dl.policy")).ToContainTextAsync("$100.00");
        await Expect(Page.Locator("#key-clients")).ToContainTextAsync("test-clients");
        await Expect(Page.Locator("svg.chart g title").Last).ToContainTextAsync("$40.00 settled");
        await ScreenshotAsync("key");

        await Page.Locator("#key-runs a", new() { HasText = RunId }).ClickAsync();
        await Expect(Page).ToHaveURLAsync(RunUrl());
        await Expect(Page.Locator("#run-total")).ToHaveTextAsync("$40.00");

        // The calls reach the audit through the agent's outbox; the live region shows them as they land, oldest first.
        var calls = Page.Locator("#run-calls tr.call");
        await Expect(calls).ToHaveCountAsync(3);
        await Expect(calls.Nth(0)).ToContainTextAsync("$15.00");
        await Expect(calls.Nth(1)).ToContainTextAsync("$20.00");
        await Expect(calls.Nth(2)).ToContainTextAsync("$5.00");
        await ScreenshotAsync("run");

        await Page.ClickAsync("header.top nav a[href='/console/runs']");
        await Expect(Page.Locator("#runs")).ToContainTextAsync(RunId);
        await ScreenshotAsync("runs");
    }

    [Test]
    public async Task A_run_page_left_open_shows_the_runs_calls_and_denials_as_the_agent_makes_them()
    {
        const string LiveRun = "run-console-live";
        await SignInAsync($"/console/runs/{LiveRun}");
        await Expect(Page.Locator("#run-calls tr.call")).ToHaveCountAsync(0);
        await Page.EvaluateAsync("() => { window.keybrakeMark = 'same page'; }");

        using (KeybrakeRun.Begin(LiveRun))
        {
            Assert.That(await Service.ChargeAsync(3_000), Is.Null);
            Assert.That(await Service.ChargeAsync(2_500), Is.EqualTo("run_cap_exceeded"), "$30 + $25 is past the $50 run cap");
        }

        var calls = Page.Locator("#run-calls tr.call");
        await Expect(calls).ToHaveCountAsync(2);
        await Expect(calls.Nth(0)).ToContainTextAsync("allow");
        await Expect(calls.Nth(1)).ToContainTextAsync("run_cap_exceeded");
        await Expect(Page.Locator("#run-denials")).ToContainTextAsync("run_cap_exceeded");
        await Expect(Page.Locator("#run-total")).ToHaveTextAsync("$30.00");
        Assert.That(await Page.EvaluateAsync<string>("() => window.keybrakeMark"), Is.EqualTo("same page"));
        await ScreenshotAsync("run-with-denial");
    }

    [GeneratedRegex("/console/runs/run-console-refunds$")]
    private static partial Regex RunUrl();
}
