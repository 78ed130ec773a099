using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Keybrake.Client.TestUtilities.Telemetry;

/// <summary>
/// Records one counter's measurements from the meters one host's <see cref="IMeterFactory"/> created: meters are
/// process-wide, so the factory (the meter's scope) keeps tests running beside each other out of each other's counts.
/// </summary>
public sealed class InstrumentRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();

    public InstrumentRecorder(IMeterFactory scope, string meterName, string instrumentName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Meter.Name == meterName && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            _measurements.Enqueue(new Measurement(value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString(), StringComparer.Ordinal))));
        _listener.Start();
    }

    /// <summary>Every measurement so far, oldest first.</summary>
    public IReadOnlyList<Measurement> Measurements => [.. _measurements];

    public void Dispose() => _listener.Dispose();

    /// <summary>One measurement and its tags.</summary>
    public sealed record Measurement(long Value, IReadOnlyDictionary<string, string?> Tags);
}
