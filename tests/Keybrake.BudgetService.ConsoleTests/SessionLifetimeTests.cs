using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The session ends a fixed time after sign-in (BudgetService:Console:SessionLifetime), however busy the operator was.</summary>
public sealed class SessionLifetimeTests
{
    [Test]
    public async Task A_session_lasts_the_configured_lifetime_from_sign_in_and_using_it_does_not_extend_it()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));
        await using var service = await ConsoleService.StartAsync(new Dictionary<string, string?> { ["BudgetService:Console:SessionLifetime"] = "00:30:00" }, time);
        using var http = new ConsoleHttp(service.Service.RestAddress);
        (await http.SignInAsync()).Dispose();

        var statuses = new List<HttpStatusCode>();
        foreach (var step in new[] { TimeSpan.Zero, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(2) })
        {
            time.Advance(step);
            using var keys = await http.Client.GetAsync("/console/keys");
            statuses.Add(keys.StatusCode);
        }

        // 0, 20 and 29 minutes in: signed in (and the visits at 0 and 20 did not push the end out); 31 minutes in: sign in again.
        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.Redirect }));
    }

    [Test]
    public async Task A_session_lifetime_outside_one_minute_to_seven_days_stops_the_start_with_a_message_naming_the_setting()
    {
        var refused = Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
            await (await ConsoleService.StartAsync(new Dictionary<string, string?> { ["BudgetService:Console:SessionLifetime"] = "30.00:00:00" })).DisposeAsync());
        Assert.That(refused!.Message, Does.Contain("BudgetService:Console:SessionLifetime"));
    }
}
