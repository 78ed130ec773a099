namespace Keybrake.Client.Tests;

public sealed class KeybrakeRunScopeTests
{
    [Test]
    public async Task The_run_id_flows_across_await_and_into_Task_Run()
    {
        string? afterYield;
        string? inTaskRun;
        string? afterResumeElsewhere;
        using (KeybrakeRun.Begin("run_flow"))
        {
            await Task.Yield();
            afterYield = KeybrakeRun.CurrentId;
            inTaskRun = await Task.Run(() => KeybrakeRun.CurrentId);
            await Task.Run(() => { }).ConfigureAwait(false);
            afterResumeElsewhere = KeybrakeRun.CurrentId;
        }

        Assert.Multiple(() =>
        {
            Assert.That(afterYield, Is.EqualTo("run_flow"));
            Assert.That(inTaskRun, Is.EqualTo("run_flow"));
            Assert.That(afterResumeElsewhere, Is.EqualTo("run_flow"));
            Assert.That(KeybrakeRun.CurrentId, Is.Null);
        });
    }

    [Test]
    public void A_nested_scope_restores_the_outer_run_id_and_the_outer_scope_restores_none()
    {
        Assert.That(KeybrakeRun.CurrentId, Is.Null);
        string? inner;
        string? afterInner;
        using (KeybrakeRun.Begin("run_outer"))
        {
            using (KeybrakeRun.Begin("run_inner"))
            {
                inner = KeybrakeRun.CurrentId;
            }

            afterInner = KeybrakeRun.CurrentId;
        }

        Assert.Multiple(() =>
        {
            Assert.That(inner, Is.EqualTo("run_inner"));
            Assert.That(afterInner, Is.EqualTo("run_outer"));
            Assert.That(KeybrakeRun.CurrentId, Is.Null);
        });
    }

    [Test]
    public async Task Concurrent_flows_each_see_their_own_run_id()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var flows = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            using (KeybrakeRun.Begin($"run_{i}"))
            {
                await gate.Task;
                await Task.Yield();
                return KeybrakeRun.CurrentId;
            }
        })).ToArray();
        gate.SetResult();

        var seen = await Task.WhenAll(flows);

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 16).Select(i => $"run_{i}")));
            Assert.That(KeybrakeRun.CurrentId, Is.Null, "a run begun inside Task.Run does not leak out");
        });
    }

    [TestCase("", TestName = "An empty run id")]
    [TestCase("run 1", TestName = "A run id with a space")]
    [TestCase("run\t1", TestName = "A run id with a tab")]
    [TestCase("run\n1", TestName = "A run id with a newline")]
    [TestCase("rün", TestName = "A run id with a non-ASCII letter")]
    [TestCase("run_✓", TestName = "A run id with a symbol outside ASCII")]
    public void An_invalid_run_id_throws_ArgumentException_and_starts_no_run(string runId)
    {
        var error = Assert.Throws<ArgumentException>(() => KeybrakeRun.Begin(runId));

        Assert.Multiple(() =>
        {
            Assert.That(error!.ParamName, Is.EqualTo("runId"));
            Assert.That(KeybrakeRun.CurrentId, Is.Null);
        });
    }

    [Test]
    public void A_run_id_of_201_characters_is_too_long_and_200_is_accepted()
    {
        var error = Assert.Throws<ArgumentException>(() => KeybrakeRun.Begin(new string('r', 201)));
        string? accepted;
        using (KeybrakeRun.Begin(new string('r', 200)))
        {
            accepted = KeybrakeRun.CurrentId;
        }

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("this one has 201"));
            Assert.That(accepted, Has.Length.EqualTo(KeybrakeRun.MaxRunIdLength));
        });
    }

    [Test]
    public void A_null_run_id_throws_ArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => KeybrakeRun.Begin(null!));
    }
}
