using System.Text.Json;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Microsoft.Extensions.DependencyInjection;
using static Keybrake.BudgetService.Tests.Integrations.LiteLlmFixtures;

namespace Keybrake.BudgetService.Tests.Integrations;

/// <summary>Two replicas on one PostgreSQL database take the same LiteLLM batch at the same moment: each log still counts once.</summary>
public sealed class LiteLlmReplicaTests
{
    [Test]
    public async Task The_same_batch_posted_to_two_replicas_at_once_counts_each_log_once()
    {
        await using var first = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("a", "100"));
        await using var second = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("a", "100"), postgres: first.Postgres);
        var token = await LiteLlmTokenAsync(first);
        using var toFirst = RestClient(first, token);
        using var toSecond = RestClient(second, token);

        // The second replica hears of the credential from the database (NOTIFY): wait until it accepts the token.
        var accepted = await Poll.UntilAsync(
            async () =>
            {
                using var probe = await PostAsync(toSecond, Bodies("ndjson", [WithId(Jwt, "chatcmpl-probe")])[0]);
                return probe.IsSuccessStatusCode;
            },
            done => done);
        Assert.That(accepted, Is.True, "the second replica learned of the credential");
        var body = Bodies("json_array", [.. Enumerable.Range(0, 50).Select(i => WithId(Jwt, $"chatcmpl-replica-{i}"))])[0];
        var replies = await Task.WhenAll(new[] { toFirst, toSecond, toFirst, toSecond }.Select(async http =>
        {
            using var response = await PostAsync(http, body);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }));
        var total = await first.Host.Services.GetRequiredService<ILlmSpendStore>().GetLlmRunTotalAsync("trace-123", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(replies.Sum(reply => reply.GetProperty("accepted").GetInt32()), Is.EqualTo(50));
            Assert.That(replies.Sum(reply => reply.GetProperty("duplicates").GetInt32()), Is.EqualTo(150));
            Assert.That((total!.CostMicroUsd, total.Calls), Is.EqualTo((51_000L, 51L)), "50 logs and the probe, $0.001 each, once each");
        });
    }
}
