namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// What the budget service keeps to fetch a deferred message again is read back only when it names that very
/// message or call: a stored value cannot send the elected reconciler, and its brake key, anywhere else.
/// </summary>
public sealed class RefetchTests
{
    private const string Sid = "SM0123456789abcdef0123456789abcdef";
    private const string Account = "AC0123456789abcdef0123456789abcdef";

    [Test]
    public void The_resource_of_a_created_message_is_written_and_read_back()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://api.twilio.com/2010-04-01/Accounts/{Account}/Messages.json");
        request.Headers.Authorization = TwilioGuardHost.TwilioBasicAuthHeader(Account, TwilioGuardHost.BrakeKey);

        var refetch = TwilioRefetch.Of(request, ["2010-04-01", "Accounts", Account, "Messages.json"], Sid);
        var read = TwilioRefetch.TryParse(refetch, Sid, out var username, out var fetch);

        Assert.Multiple(() =>
        {
            Assert.That(refetch, Is.EqualTo($"{Account} https://api.twilio.com/2010-04-01/Accounts/{Account}/Messages/{Sid}.json"));
            Assert.That(refetch, Does.Not.Contain(TwilioGuardHost.BrakeKey));
            Assert.That((read, username, fetch.AbsoluteUri), Is.EqualTo((true, Account, $"https://api.twilio.com/2010-04-01/Accounts/{Account}/Messages/{Sid}.json")));
        });
    }

    [TestCase("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM1123456789abcdef0123456789abcdef.json", TestName = "another message")]
    [TestCase("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json?x=1", TestName = "a query")]
    [TestCase("https://user:pw@api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json", TestName = "user info")]
    [TestCase("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/IncomingPhoneNumbers/SM0123456789abcdef0123456789abcdef.json", TestName = "another resource")]
    [TestCase("ftp://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json", TestName = "another scheme")]
    [TestCase("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json", TestName = "a relative path")]
    public void A_stored_refetch_that_names_anything_else_is_not_read(string url)
    {
        Assert.That(TwilioRefetch.TryParse($"{Account} {url}", Sid, out _, out _), Is.False);
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json")]
    [TestCase("not-a-sid https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json")]
    public void A_refetch_without_a_user_name_sid_is_not_read(string? refetch)
    {
        Assert.That(TwilioRefetch.TryParse(refetch, Sid, out _, out _), Is.False);
    }
}
