using Keybrake.Protocol;

namespace Keybrake.Client.Tests;

/// <summary>
/// <c>UnknownObjects</c>: what a call does when the object it names cannot be looked up. Deny unless a policy opts
/// in; in central mode the service's policy decides and a process can only make it stricter.
/// </summary>
public sealed class UnknownObjectsPolicyTests
{
    [TestCase(null, null, UnknownObjectBehavior.Deny)]
    [TestCase(UnknownObjectBehavior.ReservePerRequestMax, null, UnknownObjectBehavior.ReservePerRequestMax)]
    [TestCase(UnknownObjectBehavior.ReservePerRequestMax, UnknownObjectBehavior.Deny, UnknownObjectBehavior.Deny)]
    [TestCase(null, UnknownObjectBehavior.ReservePerRequestMax, UnknownObjectBehavior.Deny)]
    [TestCase(UnknownObjectBehavior.Deny, UnknownObjectBehavior.ReservePerRequestMax, UnknownObjectBehavior.Deny)]
    [TestCase(UnknownObjectBehavior.ReservePerRequestMax, UnknownObjectBehavior.ReservePerRequestMax, UnknownObjectBehavior.ReservePerRequestMax)]
    public void A_process_can_take_the_service_s_fallback_away_but_never_grant_it(UnknownObjectBehavior? service, UnknownObjectBehavior? local, UnknownObjectBehavior expected)
    {
        var tightened = KeyPolicy.Tightened(Compile(service, capsAreCentral: false), Compile(local, capsAreCentral: true));

        Assert.That(tightened.UnknownObjects, Is.EqualTo(expected));
    }

    [Test]
    public void The_setting_survives_the_budget_service_s_policy_message()
    {
        var options = new KeybrakePolicyOptions { DailyCap = Usd.FromDollars(1), UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax };

        var message = PolicyMessages.ToMessage(options);
        var compiled = PolicyMessages.TryCompile("k", message, []);
        var unset = PolicyMessages.TryCompile("k", PolicyMessages.ToMessage(new KeybrakePolicyOptions { DailyCap = Usd.FromDollars(1) }), []);

        Assert.Multiple(() =>
        {
            Assert.That(message.UnknownObjects, Is.EqualTo("reserve_per_request_max"));
            Assert.That(compiled!.UnknownObjects, Is.EqualTo(UnknownObjectBehavior.ReservePerRequestMax));
            Assert.That(unset!.UnknownObjectsSetting, Is.Null);
            Assert.That(unset.UnknownObjects, Is.EqualTo(UnknownObjectBehavior.Deny));
        });
    }

    [Test]
    public void An_unknown_value_in_the_message_is_refused_naming_the_field()
    {
        var errors = new List<string>();

        var compiled = PolicyMessages.TryCompile("k", new Protocol.Policy { DailyCapMicroUsd = 1, UnknownObjects = "guess" }, errors);

        Assert.Multiple(() =>
        {
            Assert.That(compiled, Is.Null);
            Assert.That(errors.Single(), Does.StartWith("policy.unknown_objects must be"));
        });
    }

    private static KeyPolicy Compile(UnknownObjectBehavior? setting, bool capsAreCentral) =>
        KeyPolicy.Compile("k", new KeybrakePolicyOptions { DailyCap = capsAreCentral ? null : Usd.FromDollars(1), UnknownObjects = setting }, capsAreCentral);
}
