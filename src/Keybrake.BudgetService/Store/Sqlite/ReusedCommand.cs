using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// A command <see cref="SqliteCommands.AdHoc"/> hands out again: disposing it (as every caller does) only marks it
/// free, and keeps the statements SQLite compiled for it; <see cref="Release"/> disposes it for good, with the
/// connection's commands.
/// </summary>
internal sealed class ReusedCommand(string sql, SqliteConnection connection) : SqliteCommand(sql, connection)
{
    private bool _released;

    /// <summary>Handed out and not yet disposed by its caller.</summary>
    public bool InUse { get; set; }

    public void Release()
    {
        _released = true;
        Dispose();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_released)
        {
            InUse = false;
            return;
        }

        base.Dispose(disposing);
    }
}
