using Keybrake.Protocol;

namespace Keybrake.BudgetService.ConsoleTests;

public sealed class RevokeTests : BrowserTest
{
    [Test]
    public async Task Revoke_asks_for_confirmation_and_then_the_agents_very_next_call_is_denied_key_revoked_and_restore_lets_it_through()
    {
        Assert.That(await Service.ChargeAsync(1_000), Is.Null);
        await SignInAsync($"/console/keys/{ConsoleService.KeyId}");
        await Expect(Page.Locator("#key-status")).ToHaveTextAsync("active");

        await Page.ClickAsync("#revoke");
        await Expect(Page.Locator("#confirm")).ToContainTextAsync($"Revoke {ConsoleService.KeyId}?");
        var stillActive = await Service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId });
        Assert.That(stillActive.Revoked, Is.False, "the first click only asks");
        await ScreenshotAsync("key-revoke-confirmation");

        await Page.ClickAsync("#confirm-action");
        await Expect(Page.Locator("#key-status")).ToHaveTextAsync("revoked");
        await Expect(Page.Locator("#key-notice")).ToContainTextAsync("Key revoked");

        Assert.That(await Service.ChargeAsync(1_000), Is.EqualTo("key_revoked"));

        // The denial reaches the audit through the agent's outbox; the Audit page, filtered by reason, shows it.
        await Page.GotoAsync(Service.Url("/console/audit?reason=key_revoked").ToString());
        await Expect(Page.Locator("#audit tr.record")).ToHaveCountAsync(1);
        await Expect(Page.Locator("#audit tr.record")).ToContainTextAsync("deny");
        await ScreenshotAsync("audit");

        await Page.GotoAsync(Service.Url($"/console/keys/{ConsoleService.KeyId}").ToString());
        await Page.ClickAsync("#restore");
        await Page.ClickAsync("#confirm-action");
        await Expect(Page.Locator("#key-status")).ToHaveTextAsync("active");
        Assert.That(await Service.ChargeAsync(1_000), Is.Null);
    }
}
