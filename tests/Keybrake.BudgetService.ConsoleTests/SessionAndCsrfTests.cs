using System.Net;
using System.Net.Http.Headers;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The console's session and its forms over plain HTTP: no browser is needed to forge a request.</summary>
public sealed class SessionAndCsrfTests
{
    private static readonly string[] s_consoleUrls =
    [
        "/console", "/console/keys", $"/console/keys/{ConsoleService.KeyId}", $"/console/keys/{ConsoleService.KeyId}?confirm=revoke", "/console/runs",
        "/console/runs/run-1", "/console/runs/find?run=run-1", "/console/audit", "/console/audit?reason=key_revoked", "/console/audit/export?format=csv",
        "/console/reservations", "/console/reservations/rsv_1", "/console/no-such-page",
    ];

    private const string ConfirmRevoke = "/console/keys/" + ConsoleService.KeyId + "?confirm=revoke";

    private ConsoleService _service = null!;

    [SetUp]
    public async Task StartAsync() => _service = await ConsoleService.StartAsync();

    [TearDown]
    public async Task StopAsync() => await _service.DisposeAsync();

    [Test]
    public async Task Without_a_session_every_console_url_redirects_to_sign_in_and_a_form_post_changes_nothing()
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        foreach (var url in s_consoleUrls)
        {
            using var response = await http.Client.GetAsync(url);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Redirect), url);
            Assert.That(response.Headers.Location?.AbsolutePath, Is.EqualTo("/console/sign-in"), url);
        }

        using var revoke = await http.Client.PostAsync(ConfirmRevoke, Form(("_handler", "key-action"), ("Action.Name", "revoke")));
        using var signOut = await http.Client.PostAsync("/console/sign-out", Form());
        var key = await _service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId });
        Assert.Multiple(() =>
        {
            Assert.That(revoke.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
            Assert.That(revoke.Headers.Location?.AbsolutePath, Is.EqualTo("/console/sign-in"));
            Assert.That(signOut.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
            Assert.That(key.Revoked, Is.False);
        });
    }

    [TestCase("/console/audit?run=run-1", "/console/audit?run=run-1")]
    [TestCase("//attacker.example/console", "/console/keys")]
    [TestCase("https://attacker.example/console", "/console/keys")]
    [TestCase("/console.attacker", "/console/keys")]
    [TestCase("/v1/keys", "/console/keys")]
    public async Task After_sign_in_the_page_asked_for_opens_but_never_a_page_outside_the_console(string returnUrl, string landsOn)
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        using var signedIn = await http.SignInAsync(returnUrl: returnUrl);
        Assert.That(signedIn.Headers.Location?.PathAndQuery, Is.EqualTo(landsOn));
        Assert.That(signedIn.Headers.Location?.Authority, Is.EqualTo(_service.Service.RestAddress.Authority));
    }

    [Test]
    public async Task A_wrong_token_buys_no_session()
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        using var refused = await http.SignInAsync("test-admin-token-0123456789abcdeX");
        using var keys = await http.Client.GetAsync("/console/keys");
        Assert.Multiple(() =>
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(http.Cookies.Any(c => c.Name == "keybrake_console"), Is.False);
            Assert.That(keys.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
        });
    }

    [Test]
    public async Task A_form_post_with_the_session_cookie_but_without_the_anti_forgery_token_is_refused_and_with_it_goes_through()
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        using (var signedIn = await http.SignInAsync())
        {
            Assert.That(signedIn.Headers.Location?.AbsolutePath, Is.EqualTo("/console/keys"));
        }

        // What a forged cross-site form would send (the browser adds the cookies): the confirmation form's fields, to the
        // URL the console's own form posts to, without the token or with a made-up one.
        using var withoutToken = await http.Client.PostAsync(ConfirmRevoke, Form(("_handler", "key-action"), ("Action.Name", "revoke")));
        using var wrongToken = await http.Client.PostAsync(ConfirmRevoke, Form(("_handler", "key-action"), ("Action.Name", "revoke"), ("__RequestVerificationToken", "CfDJ8forged")));
        using var signOutWithoutToken = await http.Client.PostAsync("/console/sign-out", Form());
        var afterForgeries = await _service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId });
        using var stillSignedIn = await http.Client.GetAsync("/console/keys");

        var token = await http.FormTokenAsync(ConfirmRevoke);
        using var genuine = await http.Client.PostAsync(ConfirmRevoke, Form(("_handler", "key-action"), ("Action.Name", "revoke"), ("__RequestVerificationToken", token)));
        var afterGenuine = await _service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId });

        Assert.Multiple(() =>
        {
            Assert.That(withoutToken.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(wrongToken.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(signOutWithoutToken.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(afterForgeries.Revoked, Is.False, "no forged form revoked the key");
            Assert.That(stillSignedIn.StatusCode, Is.EqualTo(HttpStatusCode.OK), "no forged form signed the operator out");
            Assert.That(genuine.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
            Assert.That(afterGenuine.Revoked, Is.True, "the same post with the token does revoke: the refusals were for the token");
        });
    }

    [Test]
    public async Task The_session_cookie_opens_the_console_only_and_never_the_REST_admin_API_whose_bearer_token_still_works()
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        (await http.SignInAsync()).Dispose();
        var session = http.Cookies.Single(c => c.Name == "keybrake_console");

        // The browser would not even send it outside /console; a client that does gets the REST API's 401 regardless.
        using var rest = new HttpClient { BaseAddress = _service.Service.RestAddress };
        using var withCookie = new HttpRequestMessage(HttpMethod.Get, "/v1/keys");
        withCookie.Headers.Add("Cookie", $"{session.Name}={session.Value}");
        using var cookieOnly = await rest.SendAsync(withCookie);
        using var cookieRevoke = new HttpRequestMessage(HttpMethod.Post, $"/v1/keys/{ConsoleService.KeyId}/revoke") { Content = new StringContent("{}") };
        cookieRevoke.Headers.Add("Cookie", $"{session.Name}={session.Value}");
        using var cookieRevoked = await rest.SendAsync(cookieRevoke);
        using var exportWithCookie = new HttpRequestMessage(HttpMethod.Get, "/v1/audit/export?format=csv");
        exportWithCookie.Headers.Add("Cookie", $"{session.Name}={session.Value}");
        using var cookieExport = await rest.SendAsync(exportWithCookie);

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/v1/keys");
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        using var withBearer = await rest.SendAsync(bearer);

        // The console's own export is the same stream, behind the session.
        using var consoleExport = await http.Client.GetAsync("/console/audit/export?format=csv");
        var key = await _service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId });

        // Nor is the console's scheme anyone's default: no handler reads the cookie on a gRPC or REST call.
        var schemes = _service.Service.Services.GetRequiredService<IAuthenticationSchemeProvider>();
        var defaultScheme = await schemes.GetDefaultAuthenticateSchemeAsync();
        Assert.Multiple(() =>
        {
            Assert.That(defaultScheme, Is.Null);
            Assert.That(session.Path, Is.EqualTo("/console"));
            Assert.That(session.HttpOnly, Is.True);
            Assert.That(cookieOnly.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(cookieRevoked.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(cookieExport.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(key.Revoked, Is.False);
            Assert.That(withBearer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(consoleExport.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(consoleExport.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/csv"));
        });
    }

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)));
}
