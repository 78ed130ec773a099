using Keybrake.Cli.Commands;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests;

/// <summary>The line <c>keys revoke</c>, <c>restore</c> and <c>update</c> print about the processes that confirmed the change.</summary>
public sealed class DeliveryTextTests
{
    [Test]
    public void Every_process_confirmed()
    {
        var text = KeysCommands.Delivery(new KeyEventDelivery { Processes = 4, Confirmed = 4, WaitedMs = 3 }, "deny their next call with key_revoked");

        Assert.That(text, Is.EqualTo("all 4 processes on the key event stream confirmed (in 3 ms), and deny their next call with key_revoked."));
    }

    [Test]
    public void The_processes_that_did_not_confirm_are_named()
    {
        var text = KeysCommands.Delivery(new KeyEventDelivery { Processes = 3, Confirmed = 1, WaitedMs = 1001, Unconfirmed = { "web-2/41/Agent at ipv4:10.0.0.7:5123", "web-3/52/Agent at ipv4:10.0.0.8:5124 (stream closed)" } }, "applied it");

        Assert.That(text, Is.EqualTo("1 of 3 processes confirmed within 1001 ms; not confirmed: web-2/41/Agent at ipv4:10.0.0.7:5123; web-3/52/Agent at ipv4:10.0.0.8:5124 (stream closed)."));
    }

    [Test]
    public void No_process_on_the_stream_and_an_older_service_are_said_as_such()
    {
        Assert.Multiple(() =>
        {
            Assert.That(KeysCommands.Delivery(new KeyEventDelivery(), "applied it"), Does.StartWith("no process is on the key event stream"));
            Assert.That(KeysCommands.Delivery(null, "applied it"), Does.Contain("older version"));
        });
    }
}
