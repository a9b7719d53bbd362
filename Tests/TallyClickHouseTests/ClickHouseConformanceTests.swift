import TallyClickHouse
import TallyStoreConformance
import Testing

/// The shared conformance suite against real ClickHouse servers: a fresh database per store,
/// on a single node and on a two-shard cluster behind Distributed tables.
@Suite("ClickHouseUsageStore conformance")
struct ClickHouseConformanceTests {
    @Test(.enabled(if: TestServers.hasSingle, "no ClickHouse: TALLY_CLICKHOUSE_URL is not set"), arguments: UsageStoreConformance.Check.allCases)
    func singleNode(_ check: UsageStoreConformance.Check) async throws {
        try await UsageStoreConformance { try TestServers.singleStore() }.run(check)
    }

    @Test(.enabled(if: TestServers.hasCluster, "no ClickHouse cluster: TALLY_CLICKHOUSE_CLUSTER_URL is not set"), arguments: UsageStoreConformance.Check.allCases)
    func twoShardCluster(_ check: UsageStoreConformance.Check) async throws {
        try await UsageStoreConformance { try TestServers.clusterStore() }.run(check)
    }
}
