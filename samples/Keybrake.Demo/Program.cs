// A runaway refund agent, stopped by Keybrake.
//
//   dotnet run --project samples/Keybrake.Demo                     one process, the embedded ledger
//   dotnet run --project samples/Keybrake.Demo -- --processes 3    three agent processes, one budget service
//   dotnet run --project samples/Keybrake.Demo -- --with-llm       one run budget across LLM tokens and refunds
//
// A stand-in for the Stripe API starts on a loopback port (WireMock.Net serving Stripe's own fixture
// objects), and a checkout takes $25 orders. Then an "agent" that should refund one order has a bug: it
// refunds every order in a tight loop, ignores every error and retries, and finally tries a payout. Its
// Stripe.net client carries the Keybrake guard with a $100 daily cap and an endpoint allowlist that blocks
// payouts (see appsettings.json). Keybrake stops it at exactly $100, in one process or across several.
// The one-process run goes on with an email blast, an SMS storm, and a support agent refunding checkout
// charges the guard never saw (looked up at Stripe once each, checked against a customer allowlist).
using Keybrake.Client.Demo;

return args switch
{
    ["--agent", ..] => await AgentProcess.RunAsync(args),
    ["--processes", var count] when int.TryParse(count, out var processes) && processes is > 0 and <= 16 => await MultiProcessDemo.RunAsync(processes),
    ["--with-llm"] => await LlmRunDemo.RunAsync(),
    [] => await EmbeddedDemo.RunAsync(),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Keybrake.Demo [--processes N | --with-llm]   (N from 1 to 16)");
    return 2;
}
