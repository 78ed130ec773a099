namespace Keybrake.Client.TestUtilities;

/// <summary>Waits for an asynchronous effect (a settlement, a shipped audit record) by asking again until it shows or a generous timeout passes.</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Reads <paramref name="read"/> until <paramref name="done"/> holds or <paramref name="timeout"/> passes, and
    /// returns the last value read either way: the test asserts on it, so a timeout fails with the value it saw.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? timeout = null)
    {
        var giveUp = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > giveUp)
            {
                return value;
            }

            await Task.Delay(20);
        }
    }

    /// <inheritdoc cref="UntilAsync{T}(Func{Task{T}}, Func{T, bool}, TimeSpan?)"/>
    public static Task<T> UntilAsync<T>(Func<T> read, Func<T, bool> done, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(read()), done, timeout);
}
