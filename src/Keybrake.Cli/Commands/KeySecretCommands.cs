using System.CommandLine;
using System.Globalization;
using Keybrake.Cli.Output;
using Keybrake.Cli.Values;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary>
/// <c>keybrake keys set-secret</c> and <c>keys rotate-secret</c>: the key's vendor secret, held by the service (encrypted
/// with its master key) for guards that have none of their own. The secret comes from standard input, and no output
/// ever shows it: only its version.
/// </summary>
internal static class KeySecretCommands
{
    /// <summary>The longest overlap the service accepts: a week.</summary>
    private static readonly TimeSpan s_maxOverlap = TimeSpan.FromDays(7);

    public static Command Set(GlobalOptions globals, HelpExamples examples)
    {
        var keyId = new Argument<string>("key-id") { Description = "The key's id." };
        var command = new Command(
            "set-secret",
            "Store the key's first vendor secret at the service, read from standard input (never from an argument). Guards in central mode with no VendorSecret of their own fetch it on first use and keep it in memory only.")
        {
            keyId,
        };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var id = parse.GetRequiredValue(keyId);
            var secret = await globals.Secrets.ReadAsync(id, session.Error, cancellationToken).ConfigureAwait(false);
            var key = await session.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = id, Secret = secret }, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, key);
                return;
            }

            session.Out.WriteLine($"Stored the vendor secret of {key.KeyId} (v{Version(key)}): {KeysCommands.Delivery(key.Delivery, "fetch it on their next call")}");
        });
        examples.Add(command,
            "keybrake keys set-secret refund-agent < stripe-restricted-key.txt",
            "keybrake keys set-secret refund-agent          # at a terminal: type it at a prompt that does not echo it");
        return command;
    }

    public static Command Rotate(GlobalOptions globals, HelpExamples examples)
    {
        var keyId = new Argument<string>("key-id") { Description = "The key's id." };
        var overlap = new Option<string?>("--overlap")
        {
            Description = "How long the service still accepts money calls carrying the previous secret, such as 90s, 15m or 1h (at most 7d) [default: none]. Calls already in flight always finish with the secret they have.",
            HelpName = "span",
        };
        var command = new Command(
            "rotate-secret",
            "Replace the key's vendor secret with a new one read from standard input. Every process switches on the key event stream: calls that start after it use the new secret. Returns once the processes confirmed (like revoke), and names those that did not.")
        {
            keyId,
            overlap,
        };
        globals.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var id = parse.GetRequiredValue(keyId);
            var seconds = OverlapSeconds(parse.GetValue(overlap));
            var secret = await globals.Secrets.ReadAsync(id, session.Error, cancellationToken).ConfigureAwait(false);
            var request = new SetKeySecretRequest { KeyId = id, Secret = secret, OverlapSeconds = seconds };
            var key = await session.Admin.RotateKeySecretAsync(request, session.Call(cancellationToken)).ConfigureAwait(false);
            if (session.Json)
            {
                JsonOutput.Write(session.Out, key);
                return;
            }

            var previous = key.PreviousSecretValidUntil.Length > 0
                ? $"; the previous one is accepted until {TimeText.Cell(key.PreviousSecretValidUntil)} UTC"
                : "; the previous one is no longer accepted";
            session.Out.WriteLine($"Rotated the vendor secret of {key.KeyId} (now v{Version(key)}{previous}): {KeysCommands.Delivery(key.Delivery, "use the new secret from their next call")}");
        });
        examples.Add(command,
            "keybrake keys rotate-secret refund-agent < new-key.txt",
            "keybrake keys rotate-secret refund-agent --overlap 15m < new-key.txt");
        return command;
    }

    /// <summary>Whether <paramref name="command"/> reads a secret (so that its parse errors must not quote the arguments).</summary>
    public static bool ReadsSecret(Command command) =>
        command.Name is "set-secret" or "rotate-secret" && command.Parents.OfType<Command>().Any(parent => parent.Name == "keys");

    /// <summary>The <c>Vendor secret</c> line of <c>keys show</c>: its version and age, never the secret.</summary>
    public static string Describe(KeyInfo key)
    {
        if (key.SecretVersion == 0)
        {
            return "none at the service (guards use their own VendorSecret)";
        }

        var text = $"v{Version(key)}, held by the service";
        if (key.SecretSetAt.Length > 0)
        {
            text += $" since {TimeText.Cell(key.SecretSetAt)} UTC";
        }

        if (key.PreviousSecretValidUntil.Length > 0)
        {
            text += $"; the previous one is accepted until {TimeText.Cell(key.PreviousSecretValidUntil)} UTC";
        }

        return text;
    }

    private static string Version(KeyInfo key) => key.SecretVersion.ToString(CultureInfo.InvariantCulture);

    private static long OverlapSeconds(string? text)
    {
        if (text is null)
        {
            return 0;
        }

        if (!TimeText.TryParseSpan(text, out var span) || span > s_maxOverlap)
        {
            throw new UsageException($"--overlap: '{text}' is not a span of at most 7d: write 90s, 15m, 2h or 1d");
        }

        return (long)span.TotalSeconds;
    }
}
