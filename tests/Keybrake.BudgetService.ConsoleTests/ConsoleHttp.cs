using System.Net;
using System.Text.RegularExpressions;
using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The console as a plain HTTP client sees it: its own cookie jar, redirects not followed.</summary>
internal sealed partial class ConsoleHttp : IDisposable
{
    private readonly SocketsHttpHandler _handler;

    /// <param name="service">The REST address.</param>
    /// <param name="handler">A handler of the caller's (one that trusts a private CA, say); redirects and cookies are set here.</param>
    public ConsoleHttp(Uri service, SocketsHttpHandler? handler = null)
    {
        _handler = handler ?? new SocketsHttpHandler();
        _handler.AllowAutoRedirect = false;
        _handler.UseCookies = true;
        _handler.CookieContainer = new CookieContainer();
        Client = new HttpClient(_handler) { BaseAddress = service, DefaultRequestVersion = HttpVersion.Version11 };
    }

    public HttpClient Client { get; }

    public CookieCollection Cookies => _handler.CookieContainer.GetAllCookies();

    /// <summary>The anti-forgery token of the first form on a page (the one the page gives this client's cookie).</summary>
    public async Task<string> FormTokenAsync(string path)
    {
        var page = await Client.GetStringAsync(path);
        return VerificationToken().Match(page) is { Success: true } match ? WebUtility.HtmlDecode(match.Groups[1].Value) : throw new InvalidOperationException($"{path} has no anti-forgery token");
    }

    /// <summary>Signs in through the sign-in form, as a browser would; returns the response to the form's post.</summary>
    public async Task<HttpResponseMessage> SignInAsync(string token = BudgetServiceHost.AdminToken, string? returnUrl = null)
    {
        var form = await FormTokenAsync("/console/sign-in");
        var fields = new Dictionary<string, string>
        {
            ["_handler"] = "sign-in",
            ["__RequestVerificationToken"] = form,
            ["Form.Token"] = token,
        };
        if (returnUrl is not null)
        {
            fields["Form.ReturnUrl"] = returnUrl;
        }

        return await Client.PostAsync("/console/sign-in", new FormUrlEncodedContent(fields));
    }

    public void Dispose()
    {
        Client.Dispose();
        _handler.Dispose();
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex VerificationToken();
}
