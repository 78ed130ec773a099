namespace Keybrake.Client;

/// <summary>
/// Where the guard learns which key a presented brake key is, and its policy. The configuration-backed
/// catalog serves embedded mode; a service-backed one takes its place when policies live centrally.
/// </summary>
internal interface IKeyCatalog
{
    /// <summary>The key a brake key stands for, or <see langword="null"/> when the brake key is unknown.</summary>
    ResolvedKey? FindByBrakeKey(string brakeKey);

    /// <summary>The key with that id, or <see langword="null"/>.</summary>
    ResolvedKey? FindById(string keyId);
}
