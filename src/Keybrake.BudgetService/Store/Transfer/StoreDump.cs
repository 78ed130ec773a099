using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Keybrake.BudgetService.Store.Transfer;

/// <summary>The dump format <c>export</c> writes and <c>import</c> reads (see <see cref="StoreDumpWriter"/>).</summary>
internal static class StoreDump
{
    public const string Format = "keybrake-budget-store";

    public const int Version = 1;

    /// <summary>
    /// The rows of the dump at <paramref name="path"/>, checked as they are read: the header, every row's table and values,
    /// and the end line's count. A dump that is not whole or not this format throws a one-line
    /// <see cref="StoreTransferException"/> naming the line; an import reading it then writes nothing.
    /// </summary>
    public static async IAsyncEnumerable<(StoreTable Table, object?[] Row)> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        path = Path.GetFullPath(path);
        StreamReader file;
        try
        {
            file = new StreamReader(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new StoreTransferException($"{path} cannot be read: {Hosting.ServiceStartException.Reason(exception)}", exception);
        }

        using (file)
        {
            var number = 0;
            long rows = 0;
            var ended = false;
            while (await file.ReadLineAsync(cancellationToken) is { } line)
            {
                number++;
                if (line.Length == 0)
                {
                    continue;
                }

                if (ended)
                {
                    throw Bad(path, number, "there is more after the end line");
                }

                using var document = Parse(path, number, line);
                var root = document.RootElement;
                if (number == 1)
                {
                    CheckHeader(path, root);
                }
                else if (root.TryGetProperty("end", out var end))
                {
                    if (!end.TryGetInt64(out var count) || count != rows)
                    {
                        throw Bad(path, number, $"the end line counts {end} rows, but the dump holds {rows}");
                    }

                    ended = true;
                }
                else
                {
                    rows++;
                    yield return Row(path, number, root);
                }
            }

            if (number == 0)
            {
                throw new StoreTransferException($"{path} is empty: it is not a budget store export");
            }

            if (!ended)
            {
                throw new StoreTransferException($"{path} ends without its end line after {rows} rows: the export was cut short; export again");
            }
        }
    }

    private static JsonDocument Parse(string path, int number, string line)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException)
        {
            throw number == 1
                ? new StoreTransferException($"{path} is not a budget store export (its first line is not JSON)")
                : Bad(path, number, "not a JSON object");
        }
    }

    private static void CheckHeader(string path, JsonElement header)
    {
        if (header.ValueKind != JsonValueKind.Object
            || !header.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
        {
            throw new StoreTransferException($"{path} is not a budget store export (its first line does not name the format {Format})");
        }

        if (!header.TryGetProperty("version", out var version) || !version.TryGetInt32(out var number) || number != Version)
        {
            throw new StoreTransferException($"{path} is a budget store export of format version {(header.TryGetProperty("version", out var v) ? v.ToString() : "?")}; this service reads version {Version}");
        }

        if (!header.TryGetProperty("tables", out var tables) || tables.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, 1, "the header lists no tables");
        }

        foreach (var table in StoreTables.All)
        {
            var columns = tables.TryGetProperty(table.Name, out var listed) && listed.ValueKind == JsonValueKind.Array
                ? listed.EnumerateArray().Select(column => column.ToString()).ToList()
                : null;
            if (columns is null || !columns.SequenceEqual(table.Columns.Select(column => column.Name)))
            {
                throw Bad(path, 1, $"the table {table.Name} does not have the columns this service stores ({string.Join(", ", table.Columns.Select(column => column.Name))}): export and import with the same version of the service");
            }
        }

        foreach (var listed in tables.EnumerateObject())
        {
            if (StoreTables.Find(listed.Name) is null)
            {
                throw Bad(path, 1, $"the table {listed.Name} is unknown to this service: import with the version of the service that exported it");
            }
        }
    }

    private static (StoreTable Table, object?[] Row) Row(string path, int number, JsonElement line)
    {
        if (line.ValueKind != JsonValueKind.Object
            || !line.TryGetProperty("table", out var name) || name.ValueKind != JsonValueKind.String
            || StoreTables.Find(name.GetString()!) is not { } table)
        {
            throw Bad(path, number, "not a row of a known table");
        }

        if (!line.TryGetProperty("row", out var values) || values.ValueKind != JsonValueKind.Array || values.GetArrayLength() != table.Columns.Count)
        {
            throw Bad(path, number, $"a row of {table.Name} needs {table.Columns.Count} values");
        }

        var row = new object?[table.Columns.Count];
        var i = 0;
        foreach (var value in values.EnumerateArray())
        {
            var column = table.Columns[i];
            row[i++] = value.ValueKind == JsonValueKind.Null ? null : column.Kind switch
            {
                ColumnKind.Text when value.ValueKind == JsonValueKind.String => value.GetString(),
                ColumnKind.Integer when value.TryGetInt64(out var integer) => integer,
                ColumnKind.Blob when value.ValueKind == JsonValueKind.String && value.TryGetBytesFromBase64(out var bytes) => bytes,
                ColumnKind.Boolean when value.ValueKind is JsonValueKind.True or JsonValueKind.False => value.GetBoolean(),
                _ => throw Bad(path, number, $"{table.Name}.{column.Name} must be {Describe(column.Kind)}"),
            };
        }

        return (table, row);
    }

    private static string Describe(ColumnKind kind) => kind switch
    {
        ColumnKind.Text => "a string",
        ColumnKind.Integer => "an integer",
        ColumnKind.Blob => "base64 text",
        _ => "true or false",
    };

    private static StoreTransferException Bad(string path, int number, string problem) =>
        new($"{path} line {number}: {problem}");
}
