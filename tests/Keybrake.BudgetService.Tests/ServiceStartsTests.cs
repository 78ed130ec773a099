using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

public sealed class ServiceStartsTests
{
    [Test]
    public async Task The_service_answers_on_a_loopback_port_over_HTTP2()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var client = BudgetServiceHost.BudgetClient(channel);

        var status = await client.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent", "nobody" } });

        Assert.Multiple(() =>
        {
            Assert.That(service.Address.Host, Is.EqualTo("127.0.0.1"));
            Assert.That(status.Keys.Select(k => (k.KeyId, k.Known, k.Revoked)), Is.EqualTo(new[] { ("agent", true, false), ("nobody", false, false) }));
        });
    }
}
