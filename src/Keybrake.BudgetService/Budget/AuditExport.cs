using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>The audit trail as a download: JSON lines (each record as stored) or CSV, in chunks, oldest first.</summary>
internal static class AuditExport
{
    public const string JsonLines = "jsonl";
    public const string Csv = "csv";

    private const int ChunkBytes = 32 * 1024;

    private static readonly string[] s_columns =
    [
        "record_id", "time", "key_id", "vendor", "method", "endpoint", "decision", "reason", "message",
        "estimated_usd", "settled_usd", "settlement", "reservation_id", "run_id", "idempotency_key",
        "http_status", "latency_ms", "parameters", "client_id", "host",
    ];

    public static string ParseFormat(string format) => format.ToLowerInvariant() switch
    {
        "" or JsonLines or "json" => JsonLines,
        Csv => Csv,
        _ => throw RequestChecks.Invalid($"format must be \"jsonl\" or \"csv\", not \"{format}\""),
    };

    public static string ContentType(string format) => format == Csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8";

    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> ChunksAsync(IAsyncEnumerable<StoredAuditRow> rows, string format, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        if (format == Csv)
        {
            text.AppendJoin(',', s_columns).Append('\n');
        }

        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            if (format == Csv)
            {
                AppendCsv(text, AuditFilters.Parse(row));
            }
            else
            {
                text.Append(row.Json).Append('\n');
            }

            if (text.Length >= ChunkBytes)
            {
                yield return Encoding.UTF8.GetBytes(text.ToString());
                text.Clear();
            }
        }

        if (text.Length > 0)
        {
            yield return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    private static void AppendCsv(StringBuilder text, Protocol.AuditRecord record)
    {
        var time = UnixMicros.ToInstant(record.TimestampUnixMicros);
        string[] cells =
        [
            record.RecordId,
            time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
            record.KeyId,
            record.Vendor,
            record.Method,
            record.Endpoint,
            record.Decision,
            record.Reason,
            record.Message,
            Usd.FromMicros(record.EstimatedMicroUsd).ToString(),
            record.HasSettledMicroUsd ? Usd.FromMicros(record.SettledMicroUsd).ToString() : string.Empty,
            record.Settlement,
            record.ReservationId,
            record.RunId,
            record.IdempotencyKey,
            record.HasHttpStatus ? record.HttpStatus.ToString(CultureInfo.InvariantCulture) : string.Empty,
            (record.LatencyMicros / 1000.0).ToString("0.###", CultureInfo.InvariantCulture),
            string.Join(';', record.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")),
            record.ClientId,
            record.Host,
        ];
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }

            AppendCell(text, cells[i]);
        }

        text.Append('\n');
    }

    /// <summary>RFC 4180 quoting; a cell a spreadsheet would run as a formula gets a leading apostrophe.</summary>
    private static void AppendCell(StringBuilder text, string cell)
    {
        if (cell.Length > 0 && cell[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            cell = "'" + cell;
        }

        if (cell.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            text.Append(cell);
            return;
        }

        text.Append('"').Append(cell.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
    }
}
