using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Twilio;
using Keybrake.Protocol;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// A Twilio message's price settles its reservation at the budget service whichever process sees it: separate OS
/// processes (Keybrake.Client.TwilioAgent) send and fetch through the real Twilio SDK against the stand-in, and the
/// service's day spend (admin API) shows the message at its real price, once.
/// </summary>
[NonParallelizable]
public sealed class DeferredPriceAcrossProcessesTests
{
    private const long Estimate = 8_300; // one US segment
    private const long Price = 7_500;    // the stand-in's price

    [Test]
    public async Task A_price_seen_by_another_process_settles_the_message_once()
    {
        await using var context = await Context.StartAsync();
        await using var sender = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder);
        var sid = await sender.SendAsync("Your order shipped");
        await context.WaitUntilDeferredAsync(sid);
        var reserved = await context.TodayAsync();

        await using var reader = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder);
        var price = await reader.FetchAsync(sid);
        var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);

        // The same price reported again, by the reader and by the sender (which still holds the reservation in memory):
        // both reach the service before their processes exit, and change nothing.
        Assert.That(await reader.FetchAsync(sid), Is.EqualTo(price));
        Assert.That(await sender.FetchAsync(sid), Is.EqualTo(price));
        await reader.ExitAsync();
        await sender.ExitAsync();
        var afterwards = await context.TodayAsync();

        Assert.Multiple(() =>
        {
            Assert.That(price, Is.EqualTo(TwilioStub.DefaultPrice));
            Assert.That((reserved.SettledMicroUsd, reserved.ReservedMicroUsd), Is.EqualTo((0L, Estimate)), "deferred at the estimate");
            Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((Price, 0L)), "settled at the real price by the other process");
            Assert.That((afterwards.SettledMicroUsd, afterwards.ReservedMicroUsd), Is.EqualTo((Price, 0L)), "a second report changes nothing");
        });
    }

    [Test]
    public async Task The_price_seen_after_the_sender_restarted_settles_the_message()
    {
        await using var context = await Context.StartAsync();
        string sid;
        await using (var sender = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder))
        {
            sid = await sender.SendAsync("Your code is 4711");
            await context.WaitUntilDeferredAsync(sid);
            await sender.KillAsync(); // its memory of the message is gone
        }

        await using var restarted = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder);
        var price = await restarted.FetchAsync(sid);
        var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);

        Assert.Multiple(() =>
        {
            Assert.That(price, Is.EqualTo(TwilioStub.DefaultPrice));
            Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((Price, 0L)));
        });
    }

    [Test]
    public async Task Another_keys_guard_that_sees_the_price_settles_nothing()
    {
        const string OtherKey = "other-agent";
        await using var context = await Context.StartAsync(BudgetServiceHost.Key(OtherKey, "1", vendor: "twilio"));
        var otherClient = await context.Admin.CreateClientAsync(new CreateClientRequest { ClientId = "other-agents", KeyIds = { OtherKey } });
        await using var sender = CentralGuard.Start(context, "sender", reconcile: false);
        var sid = await sender.SendAsync("Your order shipped");
        await context.WaitUntilDeferredAsync(sid);

        // Same Twilio account, another key and a credential for that key only: it sees the price, and reports it under its key.
        string? seenByOther;
        await using (var other = CentralGuard.Start(context, "other", reconcile: false, OtherKey, "vault_key_test_other_agent_0000000001", otherClient.Token))
        {
            seenByOther = await other.FetchAsync(sid);
        }

        var afterOther = await context.TodayAsync(); // the other guard is disposed: what it had to send has reached the service
        await using var reader = CentralGuard.Start(context, "reader", reconcile: false);
        await reader.FetchAsync(sid);
        var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);

        Assert.Multiple(() =>
        {
            Assert.That(seenByOther, Is.EqualTo(TwilioStub.DefaultPrice));
            Assert.That((afterOther.SettledMicroUsd, afterOther.ReservedMicroUsd), Is.EqualTo((0L, Estimate)), "another key's report settles nothing");
            Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((Price, 0L)), "the key's own guard settles it");
        });
    }

    /// <summary>The budget service (in this process, on a real port), the Twilio stand-in, a folder, and clients of the service.</summary>
    internal sealed class Context : IAsyncDisposable
    {
        private readonly GrpcChannel _channel;

        private Context(BudgetServiceHost service, TwilioStub stub, string folder)
        {
            Service = service;
            Stub = stub;
            Folder = folder;
            _channel = GrpcChannel.ForAddress(service.Address);
            Admin = BudgetServiceHost.AdminClient(_channel);
            Budget = BudgetServiceHost.BudgetClient(_channel);
        }

        public BudgetServiceHost Service { get; }

        public TwilioStub Stub { get; }

        public string Folder { get; }

        public BudgetAdmin.BudgetAdminClient Admin { get; }

        public Protocol.Budget.BudgetClient Budget { get; }

        public static async Task<Context> StartAsync(params IDictionary<string, string?>[] moreKeys)
        {
            var settings = BudgetServiceHost.Key(TwilioGuardHost.KeyId, "1", vendor: "twilio");
            foreach (var (name, value) in moreKeys.SelectMany(keys => keys))
            {
                settings[name] = value;
            }

            var service = await BudgetServiceHost.StartAsync(settings);
            return new Context(service, TwilioStub.Start(), Directory.CreateTempSubdirectory("keybrake-twilio-processes-").FullName);
        }

        /// <summary>Today's counters for the key at the service.</summary>
        public async Task<SpendReply> TodayAsync() => await Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = TwilioGuardHost.KeyId });

        /// <summary>Who holds a duty of the key now, asked without taking it (a zero TTL gives up only the asker's own claim).</summary>
        public async Task<string> HolderAsync(string duty)
        {
            var reply = await Budget.ClaimDutyAsync(new ClaimDutyRequest { KeyId = TwilioGuardHost.KeyId, Duty = duty, Holder = "test-probe", TtlMilliseconds = 0 });
            return reply.ExpiresAtUnixMicros > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000 ? reply.Holder : string.Empty;
        }

        /// <summary>Waits until the service holds the message's deferral (the sender ships it with its settlements).</summary>
        public Task WaitUntilDeferredAsync(string sid) =>
            Poll.UntilAsync(
                async () => (await Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = TwilioGuardHost.KeyId, Vendor = "twilio" })).Objects,
                open => open.Any(item => item.ObjectId == sid));

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            await Service.DisposeAsync();
            Stub.Dispose();
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (IOException)
            {
                // a file an agent still held: the temporary folder is cleaned by the system
            }
        }
    }
}
