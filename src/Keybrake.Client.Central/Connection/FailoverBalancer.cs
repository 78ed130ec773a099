using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// grpc's round robin over the connected replicas (a replica whose connection is down is not among them), except
/// that a replica <see cref="ReplicaHealth"/> saw fail a moment ago is passed over while another is available, so
/// that a retry lands on a replica that answers.
/// </summary>
internal sealed class FailoverBalancer(IChannelControlHelper controller, ILoggerFactory loggerFactory, ReplicaHealth health)
    : SubchannelsLoadBalancer(controller, loggerFactory)
{
    protected override SubchannelPicker CreatePicker(IReadOnlyList<Subchannel> readySubchannels) =>
        new Picker([.. readySubchannels], health, Random.Shared.Next(readySubchannels.Count));

    private sealed class Picker(Subchannel[] subchannels, ReplicaHealth health, long start) : SubchannelPicker
    {
        private long _next = start;

        public override PickResult Pick(PickContext context)
        {
            var first = Interlocked.Increment(ref _next);
            for (var i = 0; i < subchannels.Length; i++)
            {
                var candidate = subchannels[(int)((first + i) % subchannels.Length)];
                if (candidate.CurrentAddress?.EndPoint is not { } endpoint || !health.IsResting(endpoint.Host, endpoint.Port))
                {
                    return PickResult.ForSubchannel(candidate);
                }
            }

            // Every connected replica failed a moment ago: try one anyway rather than fail without asking.
            return PickResult.ForSubchannel(subchannels[(int)(first % subchannels.Length)]);
        }
    }
}

/// <summary>Makes <see cref="FailoverBalancer"/>s for the budget service's channels.</summary>
internal sealed class FailoverBalancerFactory(ReplicaHealth health) : LoadBalancerFactory
{
    public const string PolicyName = "keybrake_failover";

    public override string Name => PolicyName;

    public override LoadBalancer Create(LoadBalancerOptions options) =>
        new FailoverBalancer(options.Controller, options.LoggerFactory, health);
}
