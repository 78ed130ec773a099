using System.Collections.ObjectModel;

namespace Keybrake.Client.TestUtilities.Telemetry;

/// <summary>What an in-memory exporter writes from the service's threads while the test reads: a list behind a lock.</summary>
public sealed class LockedCollection<T> : Collection<T>
{
    private readonly Lock _gate = new();

    public IReadOnlyList<T> Snapshot()
    {
        lock (_gate)
        {
            return [.. this];
        }
    }

    protected override void InsertItem(int index, T item)
    {
        lock (_gate)
        {
            base.InsertItem(index, item);
        }
    }

    protected override void ClearItems()
    {
        lock (_gate)
        {
            base.ClearItems();
        }
    }
}
