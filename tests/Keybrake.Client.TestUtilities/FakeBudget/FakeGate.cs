namespace Keybrake.Client.TestUtilities.FakeBudget;

/// <summary>Holds one call of a <see cref="FakeBudgetService"/> until the test releases it: the test waits for <see cref="Entered"/>, acts, then releases.</summary>
public sealed class FakeGate
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the held call arrived.</summary>
    public Task Entered => _entered.Task;

    /// <summary>Lets the held call go on.</summary>
    public void Release() => _released.TrySetResult();

    internal async Task PassAsync()
    {
        _entered.TrySetResult();
        await _released.Task.WaitAsync(Poll.DefaultTimeout);
    }
}
