using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>Input checks shared by the services: bad input is an <see cref="RpcException"/> that names the field, never a crash.</summary>
internal static class RequestChecks
{
    public const int MaxIdLength = 256;
    public const int MaxBatch = 10_000;

    private static readonly long s_minUnixMicros = UnixMicros.From(DateTimeOffset.MinValue);
    private static readonly long s_maxUnixMicros = UnixMicros.From(DateTimeOffset.MaxValue);

    public static void Id(string value, string field, bool required = true)
    {
        if (required && string.IsNullOrEmpty(value))
        {
            throw Invalid($"{field} is required");
        }

        if (value.Length > MaxIdLength)
        {
            throw Invalid($"{field} is longer than {MaxIdLength} characters");
        }
    }

    public static void RunId(string value)
    {
        if (value.Length == 0)
        {
            return;
        }

        try
        {
            RunIds.Validate(value);
        }
        catch (ArgumentException exception)
        {
            throw Invalid($"run_id: {exception.Message}");
        }
    }

    /// <summary>An amount the books take: never negative, and at most <see cref="BookLimits.MaxAmountMicroUsd"/>, so no sum of them can overflow.</summary>
    public static void Amount(long micros, string field)
    {
        if (micros < 0 || micros > BookLimits.MaxAmountMicroUsd)
        {
            throw Invalid(string.Create(CultureInfo.InvariantCulture, $"{field} must be between 0 and {BookLimits.MaxAmountMicroUsd} micro-USD ({Usd.FromMicros(BookLimits.MaxAmountMicroUsd)})"));
        }
    }

    /// <summary>Unix microseconds as a moment. Outside what a <see cref="DateTimeOffset"/> holds it is bad input: the tick count would wrap or throw.</summary>
    public static DateTimeOffset Timestamp(long unixMicros, string field)
    {
        if (unixMicros < s_minUnixMicros || unixMicros > s_maxUnixMicros)
        {
            throw Invalid($"{field} must be between {s_minUnixMicros} and {s_maxUnixMicros} microseconds since the Unix epoch");
        }

        return UnixMicros.ToInstant(unixMicros);
    }

    public static void Batch(int count, string field)
    {
        if (count > MaxBatch)
        {
            throw Invalid($"{field} has {count} entries; send at most {MaxBatch} at a time");
        }
    }

    /// <summary>A bad value as an error message may echo it: a short prefix (<see cref="ShownValue"/>).</summary>
    public static string Shown(string? value) => ShownValue.Of(value);

    public static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    public static RpcException UnknownKey(string keyId) => new(new Status(StatusCode.NotFound, $"key '{Shown(keyId)}' is not known to the budget service"));
}
