using Microsoft.Data.Sqlite;

namespace Keybrake.Client.TestUtilities.Outbox;

/// <summary>
/// The audit outbox files of every process configured with one <c>OutboxPath</c>, read the way an operator
/// would: each process writes <c>&lt;name&gt;.p&lt;pid&gt;-&lt;random&gt;&lt;extension&gt;</c> beside the configured path
/// (and an earlier release wrote the configured path itself).
/// </summary>
public static class OutboxFileSet
{
    /// <summary>The outbox files that exist now for <paramref name="configured"/>.</summary>
    public static IReadOnlyList<string> Files(string configured)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(configured))!;
        if (!Directory.Exists(directory))
        {
            return [];
        }

        var pattern = Path.GetFileNameWithoutExtension(configured) + ".p*" + Path.GetExtension(configured);
        var files = Directory.EnumerateFiles(directory, pattern).Where(f => f.EndsWith(Path.GetExtension(configured), StringComparison.Ordinal)).ToList();
        if (File.Exists(configured))
        {
            files.Add(Path.GetFullPath(configured));
        }

        return files;
    }

    /// <summary>Records waiting to be shipped (refused ones included) across the files.</summary>
    public static long Records(string configured) => Sum(configured, "SELECT COUNT(*) FROM outbox");

    /// <summary>Records some shipper holds a claim on across the files.</summary>
    public static long Claimed(string configured) => Sum(configured, "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL");

    /// <summary>Rows set aside (refused settlements and the like) across the files.</summary>
    public static long SetAside(string configured) => Sum(configured, "SELECT COUNT(*) FROM set_aside");

    /// <summary>Every waiting record's payload (a protobuf <c>AuditRecord</c>) across the files.</summary>
    public static IReadOnlyList<byte[]> Payloads(string configured)
    {
        var payloads = new List<byte[]>();
        foreach (var file in Files(configured))
        {
            Read(file, "SELECT payload FROM outbox", reader => payloads.Add((byte[])reader.GetValue(0)));
        }

        return payloads;
    }

    private static long Sum(string configured, string sql)
    {
        long total = 0;
        foreach (var file in Files(configured))
        {
            Read(file, sql, reader => total += reader.GetInt64(0));
        }

        return total;
    }

    private static void Read(string file, string sql, Action<SqliteDataReader> row)
    {
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                row(reader);
            }
        }
        catch (SqliteException) when (!File.Exists(file))
        {
            // its owner deleted it, empty, as it stopped
        }
    }
}
