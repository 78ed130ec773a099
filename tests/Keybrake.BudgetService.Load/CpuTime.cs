using System.Globalization;
using Npgsql;

namespace Keybrake.BudgetService.Load;

/// <summary>CPU time of other processes (the service replicas, PostgreSQL's backends), read from <c>/proc</c>.</summary>
internal static class CpuTime
{
    /// <summary>Clock ticks per second of <c>/proc/[pid]/stat</c>'s times (USER_HZ): 100 on Linux.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>User plus system time of the processes; one that is gone counts nothing.</summary>
    public static TimeSpan Of(IEnumerable<int> processIds)
    {
        double ticks = 0;
        foreach (var id in processIds)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{id}/stat");

                // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the process ended
            }
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    /// <summary>The server processes (backends) serving the database of <paramref name="connectionString"/> right now.</summary>
    public static async Task<List<int>> BackendsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var pids = new List<int>();
        while (await reader.ReadAsync())
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }
}
