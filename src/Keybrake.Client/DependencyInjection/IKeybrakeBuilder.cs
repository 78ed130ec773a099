namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Returned by <c>AddKeybrake</c>; vendor packages add their registrations to it (<c>AddStripe</c>, <c>AddStripeClient</c>).</summary>
public interface IKeybrakeBuilder
{
    /// <summary>The services Keybrake registers into.</summary>
    IServiceCollection Services { get; }
}

internal sealed class KeybrakeBuilder : IKeybrakeBuilder
{
    public KeybrakeBuilder(IServiceCollection services) => Services = services;

    public IServiceCollection Services { get; }
}
