using Microsoft.Playwright;
using Microsoft.Playwright.NUnit;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>
/// A test in Debian's chromium (Playwright cannot download its own browsers here): <c>KEYBRAKE_CHROMIUM</c> or
/// <c>/usr/bin/chromium</c>; a missing browser fails the test (the CI installs it). Each test gets its own browser and
/// service; assertions wait for states with Playwright's auto-waiting Expect, never for time.
/// </summary>
public abstract class BrowserTest : PlaywrightTest
{
    private IBrowser? _browser;

    internal ConsoleService Service { get; private set; } = null!;

    protected IPage Page { get; private set; } = null!;

    protected IBrowserContext Context { get; private set; } = null!;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("KEYBRAKE_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Settings a fixture adds to the service's (a webhook, say); none by default.</summary>
    protected virtual IDictionary<string, string?>? ServiceSettings => null;

    [SetUp]
    public async Task StartBrowserAndServiceAsync()
    {
        Assert.That(File.Exists(ChromiumPath), Is.True, $"chromium is not at {ChromiumPath}: install it (apt-get install chromium) or set KEYBRAKE_CHROMIUM");

        // The machine may be busy: states are waited for, generously, never slept for.
        SetDefaultExpectTimeout(30_000);
        Service = await ConsoleService.StartAsync(ServiceSettings);
        _browser = await BrowserType.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = 60_000,
            Args = ["--no-sandbox", "--disable-dev-shm-usage"], // root in a container has no sandbox to give
        });
        Context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        Context.SetDefaultTimeout(30_000);
        Page = await Context.NewPageAsync();
    }

    [TearDown]
    public async Task StopBrowserAndServiceAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        if (Service is not null)
        {
            await Service.DisposeAsync();
        }
    }

    /// <summary>Signs in through the page, with the admin token, and waits for the Keys page.</summary>
    protected async Task SignInAsync(string? path = null)
    {
        await Page.GotoAsync(Service.Url(path ?? "/console/keys").ToString());
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/sign-in"));
        await Page.FillAsync("#token", Client.TestUtilities.BudgetService.BudgetServiceHost.AdminToken);
        await Page.ClickAsync("#sign-in");
        await Expect(Page.Locator("header.top")).ToBeVisibleAsync();
    }

    /// <summary>Saves the page as <c>artifacts/console-screenshots/{name}.png</c> under the repository (git-ignored).</summary>
    protected Task<byte[]> ScreenshotAsync(string name) =>
        Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots.Folder, name + ".png"), FullPage = true });
}
