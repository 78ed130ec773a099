using Grpc.Core;
using Keybrake.Client;

namespace Keybrake.BudgetService.Budget;

/// <summary>Input checks shared by the services: bad input is an <see cref="RpcException"/> that names the field, never a crash.</summary>
internal static class RequestChecks
{
    public const int MaxIdLength = 256;
    public const int MaxBatch = 10_000;

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
            KeybrakeRun.Validate(value);
        }
        catch (ArgumentException exception)
        {
            throw Invalid($"run_id: {exception.Message}");
        }
    }

    public static void Amount(long micros, string field)
    {
        if (micros < 0 || micros > Usd.MaxValue.Micros)
        {
            throw Invalid($"{field} must be between 0 and {Usd.MaxValue.Micros} micro-USD ({Usd.MaxValue})");
        }
    }

    public static void Batch(int count, string field)
    {
        if (count > MaxBatch)
        {
            throw Invalid($"{field} has {count} entries; send at most {MaxBatch} at a time");
        }
    }

    public static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    public static RpcException UnknownKey(string keyId) => new(new Status(StatusCode.NotFound, $"key '{keyId}' is not known to the budget service"));
}
