using System.Net;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Integrations.LiteLlmFixtures;

namespace Keybrake.BudgetService.Tests.Integrations;

/// <summary>Only a credential that names the litellm integration may post spend logs; it can do nothing else, and no token is ever logged.</summary>
public sealed class LiteLlmIntakeAuthTests
{
    private const string ConfiguredToken = "kbc_configuredLiteLlmCredential0123456789abcd";

    [Test]
    public async Task Only_a_credential_with_the_litellm_integration_may_post_and_no_token_is_logged()
    {
        var logs = new CapturingLoggerProvider();
        var settings = TestService.Settings(BudgetServiceHost.Key("a", "100"), new Dictionary<string, string?>
        {
            ["BudgetService:Clients:configured-litellm:TokenSha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ConfiguredToken))),
            ["BudgetService:Clients:configured-litellm:Integrations:0"] = "litellm",
        });
        await using var service = await TestService.StartAsync(settings, configure: builder => builder.Logging.AddProvider(logs));
        var liteLlm = await LiteLlmTokenAsync(service);
        var keyScoped = (await service.Admin.CreateClientAsync(new CreateClientRequest { ClientId = "fleet", KeyIds = { "a" } })).Token;
        var revoked = await LiteLlmTokenAsync(service, "old-proxy");
        await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "old-proxy" });
        const string Unknown = "kbc_neverIssuedByTheService0123456789abcdefgh";

        var statuses = new Dictionary<string, HttpStatusCode>();
        foreach (var (name, token, id) in new[]
        {
            ("none", null, "log-none"), ("unknown", Unknown, "log-unknown"), ("admin token", BudgetServiceHost.AdminToken, "log-admin"),
            ("key-scoped", keyScoped, "log-keys"), ("revoked", revoked, "log-revoked"), ("litellm", liteLlm, "log-litellm"),
            ("configured", ConfiguredToken, "log-configured"), ("test clients (every key)", BudgetServiceHost.ClientToken, "log-every-key"),
        })
        {
            using var http = RestClient(service, token);
            using var response = await PostAsync(http, WithId(Jwt, id).ToJsonString());
            statuses[name] = response.StatusCode;
        }

        var budgetCall = Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(service.Channel, liteLlm).AuthorizeAsync(Authorize("a", 1)));
        var listed = await service.Admin.ListClientsAsync(new ListClientsRequest());
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "llm" });
        var text = string.Join('\n', logs.Logs.Select(l => l.Message + l.Exception));

        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.EqualTo(new Dictionary<string, HttpStatusCode>
            {
                ["none"] = HttpStatusCode.Unauthorized,
                ["unknown"] = HttpStatusCode.Unauthorized,
                ["admin token"] = HttpStatusCode.Unauthorized,
                ["key-scoped"] = HttpStatusCode.Forbidden,
                ["revoked"] = HttpStatusCode.Unauthorized,
                ["litellm"] = HttpStatusCode.OK,
                ["configured"] = HttpStatusCode.OK,
                ["test clients (every key)"] = HttpStatusCode.Forbidden,
            }));
            Assert.That(audit.Records.Select(r => r.IdempotencyKey).Order(), Is.EqualTo(new[] { "log-configured", "log-litellm" }), "only the accepted posts stored anything");
            Assert.That(budgetCall!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), "an integration-only credential makes no Budget call");
            Assert.That(budgetCall.Status.Detail, Does.Contain("intake integrations only"));
            Assert.That(listed.Clients.Single(c => c.ClientId == "litellm-proxy").Integrations, Is.EqualTo(new[] { "litellm" }));
            Assert.That(listed.Clients.Single(c => c.ClientId == "configured-litellm").Integrations, Is.EqualTo(new[] { "litellm" }));
            Assert.That(listed.Clients.Single(c => c.ClientId == "fleet").Integrations, Is.Empty);
            Assert.That(text, Does.Contain("credential 'fleet' lacks the litellm integration"));
            Assert.That(text, Does.Contain("credential 'old-proxy' is revoked"));
            foreach (var secret in new[] { liteLlm, keyScoped, revoked, Unknown, ConfiguredToken, BudgetServiceHost.AdminToken, BudgetServiceHost.ClientToken })
            {
                Assert.That(text, Does.Not.Contain(secret));
            }

            Assert.That(text, Does.Not.Contain("kbc_"));
        });
    }

    [Test]
    public async Task A_credential_issued_over_rest_with_the_integration_may_post()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("a", "100"));
        using var admin = RestClient(service, BudgetServiceHost.AdminToken);

        using var created = await admin.PostAsync("/v1/clients", new StringContent("{\"clientId\":\"rest-proxy\",\"integrations\":[\"litellm\"]}", Encoding.UTF8, "application/json"));
        var reply = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        using var intake = RestClient(service, reply.GetProperty("token").GetString());
        using var posted = await PostAsync(intake, Load(Jwt).ToJsonString());
        using var withAdminToken = await PostAsync(admin, WithId(Jwt, "chatcmpl-admin").ToJsonString());

        Assert.Multiple(() =>
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.GetProperty("client").GetProperty("integrations").EnumerateArray().Select(i => i.GetString()), Is.EqualTo(new[] { "litellm" }));
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(withAdminToken.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "the admin token opens no intake");
        });
    }

    [TestCase("", "", "key_ids must name at least one key (or \"*\" for every key), or integrations an intake integration (\"litellm\")")]
    [TestCase("a", "langfuse", "integration 'langfuse' is not known: use \"litellm\"")]
    public async Task A_credential_needs_keys_or_a_known_integration(string keyId, string integration, string expected)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("a", "100"));
        var request = new CreateClientRequest { ClientId = "bad" };
        if (keyId.Length > 0)
        {
            request.KeyIds.Add(keyId);
        }

        if (integration.Length > 0)
        {
            request.Integrations.Add(integration);
        }

        var refused = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateClientAsync(request));

        Assert.That((refused!.StatusCode, refused.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, expected)));
    }
}
