using Keybrake.Client;
using Keybrake.Client.Resend;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Resend guard and puts it on the Resend SDK's <see cref="HttpClient"/>.</summary>
public static class KeybrakeResendBuilderExtensions
{
    /// <summary>
    /// The name of the <see cref="HttpClient"/> the Resend SDK's <c>services.AddResend(...)</c> registers: it is a
    /// typed client, <c>AddHttpClient&lt;IResend, ResendClient&gt;()</c>, and a typed client's name is its
    /// interface's name.
    /// </summary>
    public const string ResendSdkClientName = "IResend";

    /// <summary>
    /// Registers the Resend vendor profile (the price per email, recipient scope, Resend-shaped denials) so keys
    /// with <c>"Vendor": "resend"</c> validate and any client can carry the Resend guard. Settings bind from
    /// <c>Keybrake:Resend</c>, then <paramref name="configure"/> runs. Calling it again is harmless.
    /// </summary>
    public static IKeybrakeBuilder AddResend(this IKeybrakeBuilder builder, Action<KeybrakeResendOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(ResendRegistered)))
        {
            services.AddSingleton(new ResendRegistered());
            builder.AddVendor<ResendVendorProfile>();
            services.AddOptions<KeybrakeResendOptions>().ValidateOnStart();
            services.AddSingleton<IConfigureOptions<KeybrakeResendOptions>>(sp => new ConfigureOptions<KeybrakeResendOptions>(options =>
                sp.GetService<IConfiguration>()?.GetSection(KeybrakeResendOptions.SectionName).Bind(options)));
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeResendOptions>, KeybrakeResendOptionsValidator>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeOptions>, ResendPolicyValidator>());
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }

    /// <summary>
    /// Puts the Resend guard on the <c>"IResend"</c> client that the Resend SDK's <c>services.AddResend(...)</c>
    /// registers, so every <c>IResend</c> the container hands out is guarded. Configure the SDK with the brake key
    /// (<c>o.ApiToken = "vault_key_..."</c>); the guard swaps it for the real <c>re_...</c> key. The order of this
    /// call and <c>AddResend</c> does not matter. Calling it again is harmless.
    /// </summary>
    public static IKeybrakeBuilder AddResendSdkGuard(this IKeybrakeBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddResend();
        builder.Services.AddHttpClient(ResendSdkClientName).AddKeybrakeGuard(ResendVendorProfile.VendorName);
        return builder;
    }

    /// <summary>
    /// Puts the Resend guard on a named or typed client that calls the Resend API: the builder
    /// <c>services.AddResend(...)</c> returns, or any <see cref="HttpClient"/> of your own. Keybrake and the
    /// Resend profile are registered if they are not yet.
    /// </summary>
    public static IHttpClientBuilder AddKeybrakeResendGuard(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeybrake().AddResend();
        return builder.AddKeybrakeGuard(ResendVendorProfile.VendorName);
    }

    // Marks what is registered already, so that calling again is harmless. A private type: a user's own
    // registrations (an extra options validator, say) can never look like ours.
    private sealed class ResendRegistered;
}
