using System.Text;

namespace Keybrake.Cli.Secrets;

/// <summary>
/// Where <c>keys set-secret</c> and <c>keys rotate-secret</c> read the vendor secret: standard input, never an argument
/// (a command line is visible to every user of the machine and stays in shell histories). Piped or redirected input is
/// read whole; at a terminal the user types it at a prompt that does not echo it.
/// </summary>
internal sealed class SecretInput(TextReader input, bool isTerminal)
{
    /// <summary>The longest secret the service accepts.</summary>
    public const int MaxLength = 4096;

    /// <summary>The process's own standard input.</summary>
    public static SecretInput Console() => new(System.Console.In, !System.Console.IsInputRedirected);

    /// <summary>Reads the secret for <paramref name="keyId"/>: one line, surrounding whitespace removed; a usage error for anything else.</summary>
    public async Task<string> ReadAsync(string keyId, TextWriter prompt, CancellationToken cancellationToken)
    {
        var text = isTerminal ? ReadHidden(keyId, prompt) : await ReadPipedAsync(cancellationToken).ConfigureAwait(false);
        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0)
        {
            throw new UsageException($"no secret on standard input: pipe it in, such as: keybrake keys set-secret {keyId} < secret.txt");
        }

        if (lines.Length > 1)
        {
            throw new UsageException("standard input holds more than one line: give the vendor secret alone");
        }

        var secret = lines[0];
        if (secret.Length > MaxLength || secret.Any(c => c is <= ' ' or > '~'))
        {
            // Never the secret itself in the message: only what is wrong with it.
            throw new UsageException($"the secret must be at most {MaxLength} printable ASCII characters with no spaces");
        }

        return secret;
    }

    private async Task<string> ReadPipedAsync(CancellationToken cancellationToken)
    {
        // Bounded: a secret is short, and a file piped in by mistake should not be read whole into memory.
        var buffer = new char[MaxLength + 2];
        var read = 0;
        while (read < buffer.Length)
        {
            var count = await input.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (count == 0)
            {
                return new string(buffer, 0, read);
            }

            read += count;
        }

        throw new UsageException($"standard input is longer than a secret ({MaxLength} characters at most)");
    }

    private static string ReadHidden(string keyId, TextWriter prompt)
    {
        prompt.Write($"Vendor secret for {keyId} (not shown; Enter to finish): ");
        prompt.Flush();
        var secret = new StringBuilder();
        while (true)
        {
            var key = System.Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                prompt.WriteLine();
                return secret.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                secret.Length = Math.Max(0, secret.Length - 1);
            }
            else if (secret.Length <= MaxLength && key.KeyChar != '\0')
            {
                secret.Append(key.KeyChar);
            }
        }
    }
}
