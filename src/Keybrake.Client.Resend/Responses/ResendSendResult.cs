using System.Text.Json;

namespace Keybrake.Client.Resend;

/// <summary>
/// What a successful send answered: <c>POST /emails</c> gives <c>{"id":...}</c>; <c>POST /emails/batch</c> gives
/// <c>{"data":[{"id":...},...]}</c> and, with <c>x-batch-validation: permissive</c>, <c>"errors":[{"index":n,"message":...}]</c>
/// for the emails it did not send.
/// </summary>
internal sealed class ResendSendResult
{
    private ResendSendResult(int ids, IReadOnlySet<int> failed)
    {
        Ids = ids;
        FailedIndexes = failed;
    }

    /// <summary>How many email ids the response carries: one per email sent.</summary>
    public int Ids { get; }

    /// <summary>The batch indexes Resend reports as not sent.</summary>
    public IReadOnlySet<int> FailedIndexes { get; }

    /// <summary>Reads a send response; <see langword="null"/> when it is not the shape Resend answers with.</summary>
    public static ResendSendResult? Parse(ReadOnlyMemory<byte> json, bool batch)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (!batch)
            {
                return root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                    ? new ResendSendResult(1, new HashSet<int>())
                    : null;
            }

            if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            var failed = new HashSet<int>();
            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                foreach (var error in errors.EnumerateArray())
                {
                    if (error.ValueKind != JsonValueKind.Object || !error.TryGetProperty("index", out var index) || !index.TryGetInt32(out var value))
                    {
                        return null;
                    }

                    failed.Add(value);
                }
            }

            return new ResendSendResult(data.GetArrayLength(), failed);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
