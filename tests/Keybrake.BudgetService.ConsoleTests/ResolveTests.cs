using Google.Protobuf;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.ConsoleTests;

public sealed class ResolveTests : BrowserTest
{
    [Test]
    public async Task A_reservation_resolved_at_an_amount_commits_it_and_the_operators_reason_lands_in_the_audit()
    {
        // A call that was authorized and never settled: its process died before it could say what the call cost.
        var stuck = await Service.Budget.AuthorizeAsync(new AuthorizeRequest
        {
            KeyId = ConsoleService.KeyId,
            RunId = "run-crashed",
            IdempotencyKey = "idem_console_stuck_call",
            EstimateMicroUsd = 30_000_000,
            RequestHash = ByteString.CopyFrom(new byte[16]),
        });
        Assert.That(stuck.Allowed, Is.True);

        await SignInAsync("/console/reservations");
        var row = Page.Locator($"#reservations tr[data-reservation='{stuck.ReservationId}']");
        await Expect(row).ToContainTextAsync("$30.00");
        await ScreenshotAsync("reservations");

        await row.Locator("a.button").ClickAsync();
        await Page.FillAsync("#resolve-amount", "12.50");
        await Page.FillAsync("#resolve-reason", "Stripe dashboard shows the charge at $12.50");
        await ScreenshotAsync("reservation-resolve");
        await Page.ClickAsync("#resolve-commit");

        await Expect(Page.Locator("#reservations-notice")).ToContainTextAsync("committed");
        await Expect(Page.Locator("#no-reservations")).ToBeVisibleAsync();

        var today = await Service.Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = ConsoleService.KeyId });
        Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((12_500_000L, 0L)));

        await Page.GotoAsync(Service.Url($"/console/audit?key={ConsoleService.KeyId}&run=run-crashed").ToString());
        var record = Page.Locator("#audit tr.record");
        await Expect(record).ToHaveCountAsync(1);
        await Expect(record).ToContainTextAsync("resolve");
        await Expect(record.Locator(".message")).ToHaveTextAsync("Stripe dashboard shows the charge at $12.50");
    }

    [Test]
    public async Task A_resolution_without_a_reason_is_refused_and_changes_nothing()
    {
        var stuck = await Service.Budget.AuthorizeAsync(new AuthorizeRequest
        {
            KeyId = ConsoleService.KeyId,
            IdempotencyKey = "idem_console_stuck_call_2",
            EstimateMicroUsd = 5_000_000,
            RequestHash = ByteString.CopyFrom(new byte[16]),
        });

        await SignInAsync($"/console/reservations/{stuck.ReservationId}");
        await Page.FillAsync("#resolve-reason", "   ");
        await Page.ClickAsync("#resolve-release");
        await Expect(Page.Locator("#resolve-error")).ToContainTextAsync("Give a reason");

        var unsettled = await Service.Admin.ListUnsettledAsync(new ListUnsettledRequest { KeyId = ConsoleService.KeyId });
        Assert.That(unsettled.Reservations.Select(r => r.ReservationId), Is.EqualTo(new[] { stuck.ReservationId }));
    }
}
