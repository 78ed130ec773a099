using System.Text.RegularExpressions;
using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.BudgetService.ConsoleTests;

public sealed partial class SignInTests : BrowserTest
{
    [Test]
    public async Task A_wrong_token_is_refused_and_the_admin_token_lands_on_the_Keys_page_with_a_strict_HttpOnly_cookie()
    {
        await Page.GotoAsync(Service.Url("/console/keys").ToString());
        await Expect(Page).ToHaveURLAsync(SignInUrl());
        await ScreenshotAsync("sign-in");

        await Page.FillAsync("#token", "not-the-admin-token-0123456789");
        await Page.ClickAsync("#sign-in");
        await Expect(Page.Locator("#sign-in-error")).ToHaveTextAsync("That is not the admin token.");
        await Expect(Page).ToHaveURLAsync(SignInUrl());

        await Page.FillAsync("#token", BudgetServiceHost.AdminToken);
        await Page.ClickAsync("#sign-in");
        await Expect(Page).ToHaveURLAsync(new Regex("/console/keys$"));
        await Expect(Page.Locator($"#keys tr[data-key='{ConsoleService.KeyId}'] td").First).ToHaveTextAsync(ConsoleService.KeyId);

        var session = (await Context.CookiesAsync()).Single(c => c.Name == "keybrake_console");
        Assert.Multiple(() =>
        {
            Assert.That(session.HttpOnly, Is.True);
            Assert.That(session.SameSite, Is.EqualTo(Microsoft.Playwright.SameSiteAttribute.Strict));
            Assert.That(session.Path, Is.EqualTo("/console"));
            Assert.That(session.Expires, Is.EqualTo(-1), "a browser-session cookie; the ticket inside it expires after the session lifetime");
        });
    }

    [Test]
    public async Task Signing_out_ends_the_session_and_the_pages_ask_for_sign_in_again()
    {
        await SignInAsync();
        await Page.ClickAsync("#sign-out");
        await Expect(Page).ToHaveURLAsync(SignInUrl());

        await Page.GotoAsync(Service.Url("/console/audit").ToString());
        await Expect(Page).ToHaveURLAsync(SignInUrl());
    }

    [GeneratedRegex("/console/sign-in")]
    private static partial Regex SignInUrl();
}
