using Microsoft.Data.Sqlite;

namespace Keybrake.Client.Central;

/// <summary>Shipping the files of processes that have stopped (see <see cref="OutboxFiles"/>).</summary>
internal sealed partial class AuditOutbox
{
    /// <summary>
    /// Ships what stopped processes left in their files beside the configured path, and the configured file
    /// itself when an earlier release shared it among processes. A file is taken only with its lock, which its
    /// owner held until it stopped; drained, it is deleted, unless it keeps records the service refused or
    /// settlements it set aside, which stay where an operator can read them. A record shipped twice (this
    /// process stopped between the send and the delete) is stored once by the service.
    /// </summary>
    public async Task<int> ShipLeftoversAsync(CancellationToken cancellationToken)
    {
        var shipped = 0;
        if (!_shipsLeftovers)
        {
            return shipped;
        }

        if (File.Exists(_configuredPath))
        {
            // No lock: older processes may still write it. Claims keep two shippers from sending one batch at once.
            shipped += await ShipFileAsync(_configuredPath, cancellationToken).ConfigureAwait(false);
        }

        foreach (var path in OutboxFiles.Others(_configuredPath, Path))
        {
            if (_kept.Contains(path) || OutboxFiles.TryLock(path) is not { } held)
            {
                continue; // its owner is alive, or another process is shipping it
            }

            try
            {
                if (!File.Exists(path))
                {
                    continue; // its owner deleted it as it stopped
                }

                var count = await ShipFileAsync(path, cancellationToken).ConfigureAwait(false);
                shipped += count;
                Log.LeftoverOutboxShipped(_logger, count, path);
            }
            finally
            {
                OutboxFiles.Release(held, path);
            }
        }

        return shipped;
    }

    /// <summary>
    /// Ships one file another process wrote; returns how many records went. A per-process file, drained and
    /// holding nothing refused or set aside, is deleted; the configured file of an earlier release is not.
    /// </summary>
    private async Task<int> ShipFileAsync(string path, CancellationToken cancellationToken)
    {
        var gate = new Lock();
        bool drained;
        int shipped;
        var connection = Open(path, create: false);
        try
        {
            if (!string.Equals(path, _configuredPath, StringComparison.Ordinal))
            {
                // Its owner is gone (this process holds its lock): a batch it had claimed is in flight no more.
                lock (gate)
                {
                    using var release = connection.CreateCommand();
                    release.CommandText = $"UPDATE outbox SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by IS NOT '{RefusedClaimant}'";
                    release.ExecuteNonQuery();
                }
            }

            (shipped, drained) = await ShipAsync(connection, gate, path, direct: false, cancellationToken).ConfigureAwait(false);
            if (!drained || string.Equals(path, _configuredPath, StringComparison.Ordinal))
            {
                return shipped;
            }

            if (!IsEmpty(connection))
            {
                _kept.Add(path);
                Log.LeftoverOutboxKept(_logger, path);
                return shipped;
            }
        }
        finally
        {
            connection.Dispose();
        }

        OutboxFiles.Delete(path);
        return shipped;
    }

    /// <summary>No record waits and nothing is set aside: nothing in the file an operator or a shipper needs.</summary>
    private static bool IsEmpty(SqliteConnection connection) =>
        Scalar(connection, "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM set_aside)") == 0;

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }
}
