using System.ComponentModel;
using System.Globalization;

namespace Keybrake.Policies;

/// <summary>Lets configuration binding read <see cref="Usd"/> values written as decimal strings.</summary>
internal sealed class UsdTypeConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? Usd.Parse(text) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) =>
        destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is Usd usd
            ? usd.ToString().TrimStart('$')
            : base.ConvertTo(context, culture, value, destinationType);
}
