using System.Net;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Tls;

namespace Keybrake.BudgetService.ConsoleTests;

public sealed class TlsCookieTests
{
    [Test]
    public async Task Over_TLS_the_session_and_anti_forgery_cookies_are_Secure_and_over_cleartext_loopback_they_are_not()
    {
        using var certificates = TestCertificates.Create();
        var settings = BudgetServiceHost.Key(ConsoleService.KeyId, "100");
        foreach (var (name, value) in certificates.ServiceSettings())
        {
            settings[name] = value;
        }

        await using var tls = await BudgetServiceHost.StartAsync(settings);
        await using var cleartext = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(ConsoleService.KeyId, "100"));
        var overTls = await SetCookiesAsync(tls.RestAddress, certificates.TrustingHandler());
        var overCleartext = await SetCookiesAsync(cleartext.RestAddress, handler: null);

        Assert.Multiple(() =>
        {
            Assert.That(tls.RestAddress.Scheme, Is.EqualTo("https"));
            Assert.That(overTls, Has.Count.EqualTo(2));
            Assert.That(overTls, Has.All.Contains("secure").And.All.Contains("samesite=strict").And.All.Contains("httponly").And.All.Contains("path=/console"));
            Assert.That(overCleartext, Has.Count.EqualTo(2));
            Assert.That(overCleartext, Has.None.Contains("secure"));
        });
    }

    /// <summary>The Set-Cookie headers of the sign-in page and of a successful sign-in, lower-cased.</summary>
    private static async Task<List<string>> SetCookiesAsync(Uri restAddress, SocketsHttpHandler? handler)
    {
        using var http = new ConsoleHttp(restAddress, handler);
        var cookies = new List<string>();
        using (var page = await http.Client.GetAsync("/console/sign-in"))
        {
            cookies.AddRange(page.Headers.GetValues("Set-Cookie"));
        }

        using var signedIn = await http.SignInAsync();
        Assert.That(signedIn.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
        cookies.AddRange(signedIn.Headers.GetValues("Set-Cookie"));
        return [.. cookies.Select(c => c.ToLowerInvariant())];
    }
}
