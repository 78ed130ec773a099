using System.Text.Json;
using Keybrake.BudgetService.Hosting;

namespace Keybrake.BudgetService.Store.Transfer;

/// <summary>
/// Writes a dump: JSON lines, a header naming the format and every table's columns, one line per row, and an end line
/// with the row count (an import refuses a dump cut short). Written to <c>&lt;file&gt;.partial</c>, private (0600) from
/// its first byte, and moved into place only when complete, so a failed export never leaves a file that looks whole.
/// </summary>
internal sealed class StoreDumpWriter : IAsyncDisposable
{
    private static readonly byte[] s_newline = "\n"u8.ToArray();

    private readonly string _path;
    private readonly string _partial;
    private readonly FileStream _stream;
    private readonly Utf8JsonWriter _json;
    private long _rows;
    private bool _completed;

    private StoreDumpWriter(string path, string partial, FileStream stream)
    {
        _path = path;
        _partial = partial;
        _stream = stream;
        _json = new Utf8JsonWriter(stream);
    }

    /// <summary>Starts a dump at <paramref name="path"/>, which must not exist yet: an export never overwrites a file.</summary>
    public static StoreDumpWriter Create(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path) || Directory.Exists(path))
        {
            throw new StoreTransferException($"{path} already exists: export to a new file");
        }

        var partial = path + ".partial";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = DataFiles.FileMode;
        }

        try
        {
            return new StoreDumpWriter(path, partial, new FileStream(partial, options));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new StoreTransferException($"{partial} cannot be written: {ServiceStartException.Reason(exception)}", exception);
        }
    }

    public async ValueTask WriteHeaderAsync(string source, DateTimeOffset exportedAt, CancellationToken cancellationToken)
    {
        _json.WriteStartObject();
        _json.WriteString("format", StoreDump.Format);
        _json.WriteNumber("version", StoreDump.Version);
        _json.WriteString("source", source);
        _json.WriteString("exported_at", exportedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        _json.WriteStartObject("tables");
        foreach (var table in StoreTables.All)
        {
            _json.WriteStartArray(table.Name);
            foreach (var column in table.Columns)
            {
                _json.WriteStringValue(column.Name);
            }

            _json.WriteEndArray();
        }

        _json.WriteEndObject();
        _json.WriteEndObject();
        await EndLineAsync(cancellationToken);
    }

    public async ValueTask WriteRowAsync(StoreTable table, object?[] row, CancellationToken cancellationToken)
    {
        _json.WriteStartObject();
        _json.WriteString("table", table.Name);
        _json.WriteStartArray("row");
        foreach (var value in row)
        {
            switch (value)
            {
                case null:
                    _json.WriteNullValue();
                    break;
                case string text:
                    _json.WriteStringValue(text);
                    break;
                case long number:
                    _json.WriteNumberValue(number);
                    break;
                case bool flag:
                    _json.WriteBooleanValue(flag);
                    break;
                case byte[] bytes:
                    _json.WriteBase64StringValue(bytes);
                    break;
                default:
                    throw new InvalidOperationException($"A {value.GetType().Name} in {table.Name} has no place in a dump.");
            }
        }

        _json.WriteEndArray();
        _json.WriteEndObject();
        _rows++;
        await EndLineAsync(cancellationToken);
    }

    /// <summary>Writes the end line, flushes the file to disk, and moves it into place.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        _json.WriteStartObject();
        _json.WriteNumber("end", _rows);
        _json.WriteEndObject();
        await EndLineAsync(cancellationToken);
        await _json.DisposeAsync();
        _stream.Flush(flushToDisk: true);
        await _stream.DisposeAsync();
        File.Move(_partial, _path);
        _completed = true;
    }

    /// <summary>Deletes the partial file of an export that did not complete.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_completed)
        {
            return;
        }

        await _json.DisposeAsync();
        await _stream.DisposeAsync();
        File.Delete(_partial);
    }

    private async ValueTask EndLineAsync(CancellationToken cancellationToken)
    {
        await _json.FlushAsync(cancellationToken);
        _json.Reset();
        await _stream.WriteAsync(s_newline, cancellationToken);
    }
}
