using Keybrake.Client.TestUtilities.Postgres;

namespace Keybrake.Client.Tests;

/// <summary>Stops the PostgreSQL server the assembly's tests shared (started by the first test that needed it) when the run ends.</summary>
[SetUpFixture]
public sealed class PostgresRun
{
    [OneTimeTearDown]
    public async Task StopSharedClusterAsync() => await PostgresCluster.DisposeSharedAsync();
}
