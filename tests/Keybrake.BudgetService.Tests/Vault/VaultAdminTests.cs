using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Vault;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests.Vault;

/// <summary>
/// What the vault refuses, and how: bad secrets and windows in one line that never holds the secret, a service without a
/// master key, a master key that is not the store's, and the settings themselves. SQLite: nothing here is the engine's.
/// </summary>
public sealed class VaultAdminTests
{
    private const string Secret = "sk_test_ThisSecretMustNeverBeEchoed0123456789";

    private static readonly TestCaseData[] s_badRequests =
    [
        new TestCaseData("agent", "", 0L, false, "secret is required").SetName("An empty secret"),
        new TestCaseData("agent", "sk_test_" + new string('x', 4089), 0L, false, "secret is longer than 4096 characters").SetName("A secret over 4096 characters"),
        new TestCaseData("agent", Secret + " trailing", 0L, false, "secret must be printable ASCII, without spaces, line breaks or control characters").SetName("A secret with a space"),
        new TestCaseData("agent", Secret + "\n", 0L, false, "secret must be printable ASCII, without spaces, line breaks or control characters").SetName("A secret with a line break"),
        new TestCaseData("agent", Secret + "é", 0L, false, "secret must be printable ASCII, without spaces, line breaks or control characters").SetName("A secret with a non-ASCII character"),
        new TestCaseData("agent", "vault_key_" + Secret, 0L, false, "secret is a brake key (vault_key_...), not the vendor's secret").SetName("A brake key"),
        new TestCaseData("agent", "kbc_" + Secret, 0L, false, "secret is a Keybrake client credential (kbc_...), not the vendor's secret").SetName("A client credential"),
        new TestCaseData("agent", BudgetServiceHost.AdminToken, 0L, false, "secret is the budget service's admin token, not the vendor's secret").SetName("The admin token"),
        new TestCaseData("agent", Secret, 5L, false, "overlap_seconds applies to a rotation only; a first secret has nothing to overlap").SetName("An overlap on a first secret"),
        new TestCaseData("agent", Secret, -1L, true, "overlap_seconds must be between 0 and 604800 (7 days)").SetName("A negative overlap"),
        new TestCaseData("agent", Secret, 604801L, true, "overlap_seconds must be between 0 and 604800 (7 days)").SetName("An overlap over 7 days"),
        new TestCaseData("", Secret, 0L, false, "key_id is required").SetName("No key id"),
    ];

    [TestCaseSource(nameof(s_badRequests))]
    public async Task A_bad_request_is_refused_in_one_line_that_never_holds_the_secret_and_stores_nothing(string keyId, string secret, long overlap, bool rotation, string message)
    {
        await using var service = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"));
        if (rotation)
        {
            await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = "sk_test_first" });
        }

        var request = new SetKeySecretRequest { KeyId = keyId, Secret = secret, OverlapSeconds = overlap };
        var refused = Assert.ThrowsAsync<RpcException>(async () => await (rotation ? service.Admin.RotateKeySecretAsync(request) : service.Admin.SetKeySecretAsync(request)));
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(refused.Status.Detail, Is.EqualTo(message));
            Assert.That(refused.Status.Detail, Does.Not.Contain(Secret).And.Not.Contain(BudgetServiceHost.AdminToken));
            Assert.That(key.SecretVersion, Is.EqualTo(rotation ? 1L : 0L), "nothing stored");
        });
    }

    [Test]
    public async Task An_unknown_key_a_second_first_secret_and_a_rotation_before_any_secret_are_refused_by_status()
    {
        await using var service = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent", "bare"));
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret });

        var unknown = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "ghost", Secret = Secret }));
        var twice = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret + "2" }));
        var rotateNone = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "bare", Secret = Secret }));

        Assert.Multiple(() =>
        {
            Assert.That((unknown!.StatusCode, unknown.Status.Detail), Is.EqualTo((StatusCode.NotFound, "key 'ghost' is not known to the budget service")));
            Assert.That((twice!.StatusCode, twice.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, "key 'agent' has a vendor secret already (version 1): rotate it instead (RotateKeySecret)")));
            Assert.That((rotateNone!.StatusCode, rotateNone.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, "key 'bare' has no vendor secret yet: set one first (SetKeySecret)")));
        });
    }

    [Test]
    public async Task Without_a_master_key_the_service_runs_and_refuses_to_store_a_secret()
    {
        await using var service = await TestService.StartAsync(VaultSettings.With(null, "agent"));

        var set = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret }));
        var rotate = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret }));
        var fetch = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" }));
        var authorized = await service.Budget.AuthorizeAsync(Calls.Authorize("agent", 1));

        Assert.Multiple(() =>
        {
            Assert.That((set!.StatusCode, set.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, "the service has no master key: set BudgetService:Vault:MasterKeyFile (see docs/budget-service.md)")));
            Assert.That(rotate!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
            Assert.That(fetch!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That(authorized.Allowed, Is.True, "the money path runs as without a vault");
        });
    }

    [Test]
    public async Task A_secret_of_a_revoked_key_is_not_delivered()
    {
        await using var service = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"));
        await service.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret });
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });

        var refused = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" }));

        Assert.That((refused!.StatusCode, refused.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, "key 'agent' is revoked: its vendor secret is not delivered")));
    }

    [Test]
    public async Task A_master_key_file_works_as_the_inline_key_and_a_restart_under_it_still_opens_the_secret()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-vault-").FullName;
        try
        {
            var keyFile = Path.Combine(directory, "master.key");
            await File.WriteAllTextAsync(keyFile, "\n  " + VaultSettings.MasterKeyA + "  \n");
            var settings = VaultSettings.With(null, "agent");
            settings["BudgetService:Vault:MasterKeyFile"] = keyFile;
            await using (var first = await TestService.StartAsync(settings, directory: directory))
            {
                await first.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret });
                await first.StopAsync();
            }

            // The same master key given inline opens what the file's sealed: they are one key.
            await using var second = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"), directory: directory);
            var delivered = await second.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });

            Assert.That((delivered.Secret, delivered.Version), Is.EqualTo((Secret, 1L)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task The_service_process_under_another_master_key_than_the_stores_fails_start_up_in_one_line_naming_both_ids()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-vault-").FullName;
        try
        {
            await using (var first = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"), directory: directory))
            {
                await first.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret });
                await first.StopAsync();
            }

            var keyFile = Path.Combine(directory, "other.key");
            await File.WriteAllTextAsync(keyFile, VaultSettings.MasterKeyB);
            await using var process = DotnetProcess.Start(
                "Keybrake.BudgetService.dll",
                ["--BudgetService:Port=0", "--BudgetService:RestPort=-1", $"--BudgetService:StoragePath={Path.Combine(directory, "budget.db")}",
                    $"--BudgetService:AdminToken={BudgetServiceHost.AdminToken}", $"--BudgetService:Vault:MasterKeyFile={keyFile}"],
                workingDirectory: directory);
            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
            var errors = process.Diagnostics[(process.Diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal) + "stderr:\n".Length)..].Trim();
            var idA = MasterKey.Parse(VaultSettings.MasterKeyA, "A").Id;
            var idB = MasterKey.Parse(VaultSettings.MasterKeyB, "B").Id;

            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.EqualTo(1), errors);
                Assert.That(errors, Is.EqualTo($"error: The store holds vendor secrets sealed under master key {idA}, but the configured master key is {idB}: configure the master key the store was written with (BudgetService:Vault:MasterKeyFile), or list it in BudgetService:Vault:PreviousMasterKeyFiles (see docs/budget-service.md)"));
                Assert.That(errors, Does.Not.Contain(VaultSettings.MasterKeyA).And.Not.Contain(VaultSettings.MasterKeyB).And.Not.Contain(Secret));
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task A_previous_master_key_still_opens_what_it_sealed_and_the_next_rotation_seals_under_the_current_one()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-vault-").FullName;
        try
        {
            await using (var first = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"), directory: directory))
            {
                await first.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret });
                await first.StopAsync();
            }

            var oldKey = Path.Combine(directory, "old.key");
            await File.WriteAllTextAsync(oldKey, VaultSettings.MasterKeyA);
            var settings = VaultSettings.With(VaultSettings.MasterKeyB, "agent");
            settings["BudgetService:Vault:PreviousMasterKeyFiles:0"] = oldKey;
            await using var second = await TestService.StartAsync(settings, directory: directory);
            var underOld = await second.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });
            await second.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = Secret + "2" });
            var masterKeys = await second.Host.Services.GetRequiredService<Store.IKeyStore>().ListMasterKeyIdsAsync(CancellationToken.None);

            Assert.Multiple(() =>
            {
                Assert.That(underOld.Secret, Is.EqualTo(Secret));
                Assert.That(masterKeys, Is.EqualTo(new[] { MasterKey.Parse(VaultSettings.MasterKeyB, "B").Id }), "the rotation without overlap left nothing under the old key");
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static readonly TestCaseData[] s_badSettings =
    [
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Vault:MasterKey"] = "not base64 at all!" },
            "BudgetService:Vault:MasterKey is not base64: it must be base64 of exactly 32 random bytes (make one with: openssl rand -base64 32)").SetName("A master key that is not base64"),
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Vault:MasterKey"] = Convert.ToBase64String(new byte[16]) },
            "BudgetService:Vault:MasterKey is base64 of 16 bytes; it must be base64 of exactly 32 random bytes").SetName("A master key of 16 bytes"),
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Vault:MasterKey"] = VaultSettings.MasterKeyA, ["BudgetService:Vault:MasterKeyFile"] = "/nowhere" },
            "BudgetService:Vault:MasterKey and BudgetService:Vault:MasterKeyFile are both set; set one of them").SetName("Both a master key and its file"),
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Vault:MasterKeyFile"] = "/nowhere/keybrake-master.key" },
            "The master key file /nowhere/keybrake-master.key (BudgetService:Vault:MasterKeyFile) cannot be read").SetName("A master key file that does not exist"),
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Vault:PreviousMasterKeyFiles:0"] = "/nowhere/old.key" },
            "BudgetService:Vault:PreviousMasterKeyFiles is set without a current master key").SetName("A previous master key without a current one"),
    ];

    [TestCaseSource(nameof(s_badSettings))]
    public void A_bad_vault_setting_fails_start_up_with_one_line_naming_it_and_never_the_value(Dictionary<string, string?> vault, string message)
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), vault);

        var failure = Assert.CatchAsync(async () => await BudgetServiceHost.StartAsync(settings));

        Assert.Multiple(() =>
        {
            Assert.That(failure, Is.InstanceOf<ServiceStartException>().Or.InstanceOf<Microsoft.Extensions.Options.OptionsValidationException>());
            Assert.That(failure!.Message, Does.Contain(message));
            Assert.That(failure.Message, Does.Not.Contain('\n'));
            Assert.That(failure.Message, Does.Not.Contain(VaultSettings.MasterKeyA).And.Not.Contain("not base64 at all!"));
        });
    }

    [Test]
    public async Task Over_REST_a_secret_is_set_and_rotated_from_a_request_body_and_no_key_reply_or_listing_holds_it()
    {
        await using var service = await TestService.StartAsync(VaultSettings.With(VaultSettings.MasterKeyA, "agent"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        const string Rotated = "sk_test_RotatedOverRestNeverShown9876543210";

        using var set = await http.PostAsync("/v1/keys/agent/secret", Json($$"""{"secret":"{{Secret}}"}"""));
        using var rotated = await http.PostAsync("/v1/keys/agent/secret/rotate", Json($$"""{"secret":"{{Rotated}}","overlapSeconds":"120"}"""));
        using var bad = await http.PostAsync("/v1/keys/agent/secret/rotate", Json($$"""{"secret":"{{Rotated}} x"}"""));
        using var malformed = await http.PostAsync("/v1/keys/agent/secret/rotate", Json($$"""{"secret":{{Rotated}}}"""));
        using var misnamed = await http.PostAsync("/v1/keys/agent/secret/rotate", Json($$"""{"secrett":"{{Rotated}}"}"""));
        using var mistyped = await http.PostAsync("/v1/keys/agent/secret/rotate", Json($$"""{"secret":"{{Rotated}}","overlapSeconds":"{{Rotated}}"}"""));
        var setBody = await set.Content.ReadAsStringAsync();
        var rotatedBody = await rotated.Content.ReadAsStringAsync();
        var badBody = await bad.Content.ReadAsStringAsync();
        var malformedBodies = await Task.WhenAll(new[] { malformed, misnamed, mistyped }.Select(response => response.Content.ReadAsStringAsync()));
        var shown = await http.GetStringAsync("/v1/keys/agent");
        var listed = await http.GetStringAsync("/v1/keys");
        var delivered = await service.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That((set.StatusCode, rotated.StatusCode), Is.EqualTo((HttpStatusCode.OK, HttpStatusCode.OK)), setBody + rotatedBody);
            Assert.That(JsonDocument.Parse(rotatedBody).RootElement.GetProperty("secretVersion").ToString(), Is.EqualTo("2"));
            Assert.That(JsonDocument.Parse(rotatedBody).RootElement.GetProperty("previousSecretValidUntil").GetString(), Is.EqualTo("2026-03-10T12:02:00.0000000Z"));
            Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((delivered.Secret, delivered.Version), Is.EqualTo((Rotated, 2L)));
            Assert.That(new[] { malformed.StatusCode, misnamed.StatusCode, mistyped.StatusCode }, Has.All.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(malformedBodies, Has.All.Contain("the request body is not valid: send"), "a fixed refusal, quoting nothing of the body");
            foreach (var body in new[] { setBody, rotatedBody, badBody, shown, listed }.Concat(malformedBodies))
            {
                Assert.That(body, Does.Not.Contain(Secret).And.Not.Contain(Rotated).And.Not.Contain("sk_test_"));
            }
        });
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
