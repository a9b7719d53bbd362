import Foundation
import TallyCore
import TallyStore
import TallyStoreConformance
import Testing

@testable import TallyClickHouse

/// 2026-01-01T00:00:00Z.
private let t0: Int64 = 1_767_225_600

private let catalog = UsageStoreConformance.catalog

private func api(_ time: Int64, _ account: String = "acme", region: String = "eu", method: String = "GET", _ metrics: [Int64] = [1, 100, 1_000], id: String? = nil) -> UsageEvent {
    UsageEvent(id: id, source: id == nil ? nil : "test", time: time, account: account, product: "api", dimensions: [region, method], metrics: metrics)
}

private func dayTotals(_ store: any UsageStore, _ accounts: [String], product: String = "api") async throws -> [Int64] {
    let rows = try await store.aggregate(StoreQuery(accounts: accounts, product: product, tier: .day, from: t0 - 86_400, to: t0 + 3 * 86_400))
    return rows.reduce(into: [Int64]()) { acc, r in
        if acc.isEmpty { acc = r.metrics } else { for i in acc.indices { acc[i] += r.metrics[i] } }
    }
}

/// What only the ClickHouse store has: its schema, its layout table, placement on shards, and
/// what happens when ClickHouse goes away in the middle of ingest.
@Suite("ClickHouseUsageStore")
struct ClickHouseStoreTests {
    @Test(.enabled(if: TestServers.hasSingle, "no ClickHouse: TALLY_CLICKHOUSE_URL is not set"))
    func schemaCreationIsIdempotent() async throws {
        let db = TestServers.freshDatabase()
        let first = try TestServers.singleStore(db)
        try await first.prepare(products: catalog)
        try await first.prepare(products: catalog)
        _ = try await first.commit(IngestBatch(events: [api(t0)], receivedAt: t0), dedupWindow: 3_600)
        try await first.close()
        let again = try TestServers.singleStore(db)
        try await again.prepare(products: catalog)
        #expect(try await TestServers.query(TestServers.single!, "SHOW TABLES FROM \(db)") == "layout\nseen\nusage\n")
        // api: 2 dimensions + 3 metrics, storage: 1 + 1; nothing added twice.
        #expect(try await TestServers.query(TestServers.single!, "SELECT count() FROM \(db).layout") == "7\n")
        #expect(try await dayTotals(again, ["acme"]) == [1, 100, 1_000])
        try await again.close()
    }

    /// Reordering a product's dimensions and metrics in the configuration, or adding one, never
    /// moves stored data: names keep their columns.
    @Test(.enabled(if: TestServers.hasSingle, "no ClickHouse: TALLY_CLICKHOUSE_URL is not set"))
    func layoutSurvivesReordering() async throws {
        let db = TestServers.freshDatabase()
        let first = try TestServers.singleStore(db)
        try await first.prepare(products: catalog)
        _ = try await first.commit(IngestBatch(events: [api(t0, region: "us", method: "PUT", [2, 200, 3])], receivedAt: t0), dedupWindow: 3_600)
        try await first.close()

        let reordered = ProductCatalog([
            ProductSpec(
                name: "api", dimensions: ["method", "tier", "region"],
                metrics: [
                    MetricSpec(name: "cost", kind: .decimal(scale: 6)), MetricSpec(name: "calls", kind: .integer),
                    MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "requests", kind: .integer),
                ]),
        ])
        let second = try TestServers.singleStore(db)
        try await second.prepare(products: reordered)
        let later = UsageEvent(time: t0 + 60, account: "acme", product: "api", dimensions: ["PUT", "gold", "us"], metrics: [4, 9, 300, 5])
        _ = try await second.commit(IngestBatch(events: [later], receivedAt: t0 + 60), dedupWindow: 3_600)
        let q = StoreQuery(accounts: ["acme"], product: "api", tier: .hour, from: t0, to: t0 + 3_600, groupBy: [0, 2, 1])
        #expect(try await second.aggregate(q) == [
            StoreRow(bucket: t0, groups: ["PUT", "us", ""], metrics: [3, 0, 200, 2]),
            StoreRow(bucket: t0, groups: ["PUT", "us", "gold"], metrics: [4, 9, 300, 5]),
        ])
        let layout = try await TestServers.query(TestServers.single!, "SELECT kind, name, col FROM \(db).layout WHERE product = 'api' ORDER BY kind, col")
        #expect(layout == "d\tregion\t0\nd\tmethod\t1\nd\ttier\t2\nm\trequests\t0\nm\tbytes\t1\nm\tcost\t2\nm\tcalls\t3\n")
        try await second.close()
    }

    @Test(.enabled(if: TestServers.hasSingle, "no ClickHouse: TALLY_CLICKHOUSE_URL is not set"))
    func foreignTableIsRefused() async throws {
        let db = TestServers.freshDatabase()
        _ = try await TestServers.query(TestServers.single!, "CREATE DATABASE \(db)")
        _ = try await TestServers.query(TestServers.single!, "CREATE TABLE \(db).usage (x UInt8) ENGINE = MergeTree ORDER BY x")
        let store = try TestServers.singleStore(db)
        let error = await #expect(throws: StoreError.self) { try await store.prepare(products: catalog) }
        #expect(error?.code == .layout)
        try await store.close()
    }

    @Test(.enabled(if: TestServers.hasSingle, "no ClickHouse: TALLY_CLICKHOUSE_URL is not set"))
    func unknownProductFailsItsBatchOnly() async throws {
        let store = try TestServers.singleStore()
        try await store.prepare(products: catalog)
        let odd = UsageEvent(time: t0, account: "acme", product: "nope", dimensions: [], metrics: [1])
        let error = await #expect(throws: StoreError.self) {
            try await store.commit(IngestBatch(events: [api(t0), odd], receivedAt: t0), dedupWindow: 3_600)
        }
        #expect(error?.code == .invalid)
        #expect(try await dayTotals(store, ["acme"]) == [])
        try await store.close()
    }

    @Test func configurationMistakesAreRefused() throws {
        for (config, what) in [
            (ClickHouseStoreConfiguration(url: "http://127.0.0.1:1", database: "a-b"), "database name"),
            (ClickHouseStoreConfiguration(url: "http://127.0.0.1:1", database: "t", cluster: "c"), "cluster without shards"),
            (ClickHouseStoreConfiguration(url: "http://127.0.0.1:1", database: "t", shards: ["http://127.0.0.1:2"]), "shards without cluster"),
        ] {
            #expect(throws: StoreError.self, "\(what)") { _ = try ClickHouseUsageStore(configuration: config, logger: .quiet) }
        }
    }

    /// Nothing listens: calls fail with a retryable `.unavailable`, after the configured retries.
    @Test func unreachableServerIsUnavailable() async throws {
        var config = ClickHouseStoreConfiguration(url: "http://127.0.0.1:9", database: "t")
        config.retryDelays = [.milliseconds(10)]
        let store = try ClickHouseUsageStore(configuration: config, logger: .quiet)
        let error = await #expect(throws: StoreError.self) { try await store.prepare(products: catalog) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("retry") == true)
        try await store.close()
    }

    // MARK: Cluster

    /// Every row of a top-level account's subtree sits on one shard, and the accounts spread
    /// over both shards.
    @Test(.enabled(if: TestServers.hasCluster, "no ClickHouse cluster: TALLY_CLICKHOUSE_CLUSTER_URL is not set"))
    func topLevelAccountsStayOnOneShard() async throws {
        let db = TestServers.freshDatabase()
        let roots = (0..<8).map { "root\($0)" }
        let store = try TestServers.clusterStore(db) { $0.split(separator: "/").first.map(String.init) ?? $0 }
        try await store.prepare(products: catalog)
        var events: [UsageEvent] = []
        for (i, root) in roots.enumerated() {
            for child in [root, "\(root)/a", "\(root)/a/b", "\(root)/c"] {
                events.append(api(t0 + Int64(i) * 600, child, id: child))
            }
        }
        #expect(try await store.commit(IngestBatch(events: events, idempotencyKey: "k", checkpoint: Checkpoint(reader: "r", position: "1"), receivedAt: t0), dedupWindow: 3_600).accepted == events.count)
        var shardOf: [String: Set<Int>] = [:]
        for (i, node) in TestServers.shards.enumerated() {
            let accounts = try await TestServers.query(node, "SELECT DISTINCT account FROM \(db).usage_local WHERE kind IN (1, 2, 3)")
            for a in accounts.split(separator: "\n") { shardOf[String(a.split(separator: "/")[0]), default: []].insert(i) }
            let keys = try await TestServers.query(node, "SELECT DISTINCT key FROM \(db).seen_local")
            for k in keys.split(separator: "\n") { shardOf[String(k.split(separator: "\u{1F}")[1].split(separator: "/")[0]), default: []].insert(i) }
        }
        #expect(Set(shardOf.keys) == Set(roots))
        #expect(shardOf.values.allSatisfy { $0.count == 1 }, "\(shardOf)")
        #expect(Set(shardOf.values.flatMap { $0 }) == [0, 1], "both shards hold accounts")
        let family = events.map(\.account)
        #expect(try await dayTotals(store, family) == [32, 3_200, 32_000])
        #expect(try await store.checkpoint(reader: "r") == "1")
        try await store.close()
    }

    /// `storage.shards` in another order than the cluster's is refused before anything is written.
    @Test(.enabled(if: TestServers.hasCluster, "no ClickHouse cluster: TALLY_CLICKHOUSE_CLUSTER_URL is not set"))
    func shardsOutOfOrderAreRefused() async throws {
        let c = ClickHouseStoreConfiguration(url: TestServers.clusterURL!, database: TestServers.freshDatabase(), cluster: TestServers.clusterName!, shards: TestServers.shards.reversed())
        let store = try ClickHouseUsageStore(configuration: c, logger: .quiet)
        let error = await #expect(throws: StoreError.self) { try await store.prepare(products: catalog) }
        #expect(error?.code == .invalid)
        try await store.close()
    }
}
