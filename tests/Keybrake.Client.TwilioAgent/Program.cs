using Keybrake.Client.TestUtilities.Twilio;
using Keybrake.Client.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

// An agent process for the tests that need several OS processes: the real Twilio SDK through the guard in central
// mode, its requests for api.twilio.com sent to a stand-in. It reads commands on stdin, one a line, and answers each
// with one line on stdout:
//   send <body>   -> "sent <sid>" (price null: the reservation is deferred), or "denied <reason>"
//   fetch <sid>   -> "fetched <sid> <price|null>" (the guard settles the deferred reservation from the price)
//   exit          -> disposes the services (which flushes settlements) and exits 0
// It says "ready" once set up. Exit code 2: bad arguments.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i]] = args[i + 1];
}

string[] required = ["--service", "--client-token-file", "--twilio", "--key-id", "--brake-key", "--outbox"];
if (required.FirstOrDefault(name => !options.ContainsKey(name)) is { } missing)
{
    await Console.Error.WriteLineAsync($"missing {missing}; usage: {string.Join(' ', required.Select(name => name + " <value>"))} [--reconcile-ttl-ms <n>] [--process-name <name>]");
    return 2;
}

const string AccountSid = "AC0123456789abcdef0123456789abcdef";
var services = new ServiceCollection();
services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Information).AddProvider(new StandardErrorLogs()));
services.AddKeybrake(keybrake =>
    {
        keybrake.AddKey(options["--key-id"], key =>
        {
            key.BrakeKey = options["--brake-key"];
            key.Vendor = "twilio";
            key.VendorSecret = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
        });
    })
    .UseBudgetService(budget =>
    {
        budget.Address = new Uri(options["--service"]);
        budget.ClientTokenFile = options["--client-token-file"];
        budget.OutboxPath = options["--outbox"];
        // A loaded machine compiling several processes can keep the service in the test process from answering for
        // several seconds; deadlines are not what the tests that start this agent are about.
        budget.CallTimeout = TimeSpan.FromSeconds(30);
        budget.TotalTimeout = TimeSpan.FromSeconds(30);
        budget.ProcessName = options.GetValueOrDefault("--process-name");
    })
    .AddTwilio(twilio =>
    {
        if (options.TryGetValue("--reconcile-ttl-ms", out var ttl))
        {
            twilio.PriceReconciliation.Enabled = true;
            twilio.PriceReconciliation.Delay = TimeSpan.FromSeconds(1);
            twilio.PriceReconciliation.ElectionTtl = TimeSpan.FromMilliseconds(int.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture));
        }
    })
    .AddTwilioClient(AccountSid, options["--brake-key"]);
services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
    .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(options["--twilio"]));

await using (var provider = services.BuildServiceProvider())
{
    var twilio = provider.GetRequiredService<TwilioRestClient>();
    Console.WriteLine("ready");
    while (await Task.Run(() => Console.In.ReadLineAsync()) is { } line && line != "exit")
    {
        var (command, argument) = line.IndexOf(' ', StringComparison.Ordinal) is var space and > 0 ? (line[..space], line[(space + 1)..]) : (line, string.Empty);
        try
        {
            switch (command)
            {
                case "send":
                    var sent = await MessageResource.CreateAsync(
                        new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber("+14155550100"), Body = argument },
                        twilio);
                    Console.WriteLine($"sent {sent.Sid}");
                    break;
                case "fetch":
                    var fetched = await MessageResource.FetchAsync(argument, client: twilio);
                    Console.WriteLine($"fetched {fetched.Sid} {fetched.Price?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}");
                    break;
                default:
                    Console.WriteLine($"unknown {command}");
                    break;
            }
        }
        catch (ApiException denied)
        {
            Console.WriteLine($"denied {TwilioErrorCodes.ReasonOf(denied.Message) ?? denied.Message}");
        }
    }
}

return 0;

/// <summary>Log messages on standard error, which the tests keep for failure messages.</summary>
internal sealed class StandardErrorLogs : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Console.Error.WriteLine($"{logLevel} {eventId.Id} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.Message)}");
    }
}
