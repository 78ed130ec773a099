namespace Keybrake.Cli.Output;

/// <summary>
/// A plain-text table: a header row and aligned columns separated by two spaces, numbers (amounts) aligned
/// right. Nothing but spaces, so it reads the same in any terminal, a log or a pasted issue.
/// </summary>
internal sealed class Table
{
    private const string Gap = "  ";

    private readonly List<(string Header, bool Right)> _columns = [];
    private readonly List<string[]> _rows = [];

    /// <summary>Adds a column; <paramref name="alignRight"/> for amounts and counts.</summary>
    public Table Column(string header, bool alignRight = false)
    {
        _columns.Add((header, alignRight));
        return this;
    }

    public int RowCount => _rows.Count;

    public void Row(params string[] cells)
    {
        if (cells.Length != _columns.Count)
        {
            throw new ArgumentException($"The table has {_columns.Count} columns; the row has {cells.Length} cells.", nameof(cells));
        }

        _rows.Add(cells);
    }

    public void Write(TextWriter output)
    {
        var widths = _columns.Select((column, i) => _rows.Select(row => row[i].Length).Append(column.Header.Length).Max()).ToArray();
        WriteLine(output, _columns.Select(c => c.Header).ToArray(), widths);
        foreach (var row in _rows)
        {
            WriteLine(output, row, widths);
        }
    }

    private void WriteLine(TextWriter output, string[] cells, int[] widths)
    {
        var parts = cells.Select((cell, i) => _columns[i].Right ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
        output.WriteLine(string.Join(Gap, parts).TrimEnd());
    }

    /// <summary>Label and value pairs, the labels padded to one width: how a single item is shown.</summary>
    public static void WritePairs(TextWriter output, IReadOnlyList<(string Label, string Value)> pairs)
    {
        var width = pairs.Max(p => p.Label.Length);
        foreach (var (label, value) in pairs)
        {
            output.WriteLine($"{label.PadRight(width)}{Gap}{value}".TrimEnd());
        }
    }
}
