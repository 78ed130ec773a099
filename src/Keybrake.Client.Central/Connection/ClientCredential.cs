using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// The client credential this process presents to the budget service: <c>Keybrake:BudgetService:ClientToken</c>,
/// or the contents of <c>ClientTokenFile</c>, read once. Start-up validation has checked that one is there; the
/// value never reaches a log or an exception message.
/// </summary>
internal sealed class ClientCredential
{
    private readonly Lazy<string?> _header;

    public ClientCredential(IOptions<KeybrakeBudgetServiceOptions> options)
    {
        _header = new Lazy<string?>(() => Read(options.Value) is { } token ? "Bearer " + token : null);
    }

    /// <summary>The <c>Authorization</c> header value, or <see langword="null"/> outside central mode.</summary>
    public string? AuthorizationHeader => _header.Value;

    /// <summary>The configured token, trimmed; <see langword="null"/> when none is configured.</summary>
    internal static string? Read(KeybrakeBudgetServiceOptions options)
    {
        if (!string.IsNullOrEmpty(options.ClientToken))
        {
            return options.ClientToken.Trim();
        }

        return string.IsNullOrEmpty(options.ClientTokenFile) ? null : File.ReadAllText(options.ClientTokenFile).Trim();
    }

    /// <summary>Why the configured credential cannot be used, naming the setting and never the value; <see langword="null"/> when it can.</summary>
    internal static string? Problem(KeybrakeBudgetServiceOptions options)
    {
        const string Section = "Keybrake:BudgetService";
        if (!options.IsCentral)
        {
            return null;
        }

        var hasToken = !string.IsNullOrEmpty(options.ClientToken);
        var hasFile = !string.IsNullOrEmpty(options.ClientTokenFile);
        if (hasToken && hasFile)
        {
            return $"{Section}:ClientToken and {Section}:ClientTokenFile are both set; set one";
        }

        if (!hasToken && !hasFile)
        {
            return $"{Section}:ClientToken: central mode needs a client credential: set ClientToken or ClientTokenFile (an operator issues one with 'keybrake clients create')";
        }

        string token;
        if (hasFile)
        {
            try
            {
                token = File.ReadAllText(options.ClientTokenFile!).Trim();
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                return $"{Section}:ClientTokenFile: '{options.ClientTokenFile}' cannot be read: {exception.GetType().Name}";
            }
        }
        else
        {
            token = options.ClientToken!.Trim();
        }

        var setting = hasFile ? $"{Section}:ClientTokenFile ('{options.ClientTokenFile}')" : $"{Section}:ClientToken";
        if (token.Length < 16)
        {
            return $"{setting}: the client credential is shorter than 16 characters";
        }

        return token.All(c => c is > ' ' and < '\u007f') ? null : $"{setting}: the client credential holds characters other than printable ASCII";
    }
}
