using Keybrake.Protocol;

namespace Keybrake.BudgetService.Keys;

/// <summary>One key as the service enforces it: the policy compiled, with the message it came from.</summary>
internal sealed record ServiceKey(
    string Id,
    string Vendor,
    KeyPolicy Policy,
    Policy Message,
    long PolicyVersion,
    byte[]? BrakeKeySha256,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);
