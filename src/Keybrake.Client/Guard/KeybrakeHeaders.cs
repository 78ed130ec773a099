namespace Keybrake.Client;

/// <summary>The HTTP headers Keybrake adds to the responses an SDK receives.</summary>
public static class KeybrakeHeaders
{
    /// <summary>
    /// On a response the guard made because it denied the call: the reason code, such as <c>daily_cap_exceeded</c>.
    /// A response the vendor sent never carries it, so its presence tells a denial from a vendor error.
    /// </summary>
    public const string Decision = "Keybrake-Decision";
}
