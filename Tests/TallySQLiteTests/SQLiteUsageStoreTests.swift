import Foundation
import Logging
import Synchronization
import TallyCore
import TallySQLite
import TallyStore
import TallyStoreConformance
import Testing

/// What only a file-backed store must do: survive reopening, read beside a writer, keep its layout.
@Suite("SQLiteUsageStore")
struct SQLiteUsageStoreTests {
    static let catalog = UsageStoreConformance.catalog

    func open(_ path: String, _ catalog: ProductCatalog = Self.catalog) async throws -> SQLiteUsageStore {
        let store = try SQLiteUsageStore(path: path, logger: .quiet)
        try await store.prepare(products: catalog)
        return store
    }

    @Test func dataSurvivesCloseAndReopen() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.database("usage")
        let events = [
            apiEvent(t0, [1, 100, 9_007_199_254_740_993], id: "e1"),
            apiEvent(t0 + 4_000, account: "beta", dims: ["us", "PUT"], [2, 200, 3]),
            apiEvent(t0 + day, [1, 1, 1]),
        ]
        do {
            let store = try await open(path)
            let r = try await store.commit(
                IngestBatch(events: events, idempotencyKey: "req-1", checkpoint: Checkpoint(reader: "tail", position: "42"), receivedAt: t0 + 10),
                dedupWindow: day)
            #expect(r == IngestReceipt(accepted: 3, duplicates: 0))
            try await store.close()
        }
        let store = try await open(path)
        #expect(try await store.aggregate(dayQuery(["acme", "beta"], byAccount: true)) == [
            StoreRow(bucket: t0, account: "acme", groups: [], metrics: [1, 100, 9_007_199_254_740_993]),
            StoreRow(bucket: t0, account: "beta", groups: [], metrics: [2, 200, 3]),
            StoreRow(bucket: t0 + day, account: "acme", groups: [], metrics: [1, 1, 1]),
        ])
        #expect(try await store.checkpoint(reader: "tail") == "42")
        #expect(try await store.stats().lastCommit == t0 + 10)
        #expect(try await store.stats().bytesOnDisk > 0)
        // The receipt and the dedup keys were committed too.
        let replay = try await store.commit(IngestBatch(events: events, idempotencyKey: "req-1", receivedAt: t0 + 20), dedupWindow: day)
        #expect(replay == IngestReceipt(accepted: 3, duplicates: 0, replayed: true))
        let again = try await store.commit(IngestBatch(events: [events[0]], receivedAt: t0 + 30), dedupWindow: day)
        #expect(again == IngestReceipt(accepted: 0, duplicates: 1))
        try await store.close()
    }

    @Test func committedDataIsVisibleToANewStoreWithoutClose() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.database("usage")
        let first = try await open(path)
        _ = try await first.commit(IngestBatch(events: [apiEvent(t0, [1, 2, 3])], receivedAt: t0), dedupWindow: day)
        let second = try await open(path)
        #expect(try await second.aggregate(dayQuery()) == [StoreRow(bucket: t0, groups: [], metrics: [1, 2, 3])])
        // Both stores may write to the same file; every commit lands.
        _ = try await second.commit(IngestBatch(events: [apiEvent(t0, [1, 2, 3])], receivedAt: t0 + 1), dedupWindow: day)
        _ = try await first.commit(IngestBatch(events: [apiEvent(t0, [1, 2, 3])], receivedAt: t0 + 2), dedupWindow: day)
        #expect(try await first.aggregate(dayQuery()) == [StoreRow(bucket: t0, groups: [], metrics: [3, 6, 9])])
    }

    /// Reads run on their own connections: they answer while a long ingest writes, and each sees
    /// whole batches only.
    @Test func reportsKeepAnsweringDuringALongIngest() async throws {
        let dir = try TemporaryDirectory()
        let store = try await open(dir.database())
        let batches = 60, perBatch = 2_000
        let done = Atomic<Bool>(false)
        let ingest = Task {
            defer { done.store(true, ordering: .releasing) }
            for b in 0..<batches {
                let events = (0..<perBatch).map { i in
                    apiEvent(t0 + Int64((b * perBatch + i) % 86_400), account: "acct-\(i % 7)", dims: [i % 2 == 0 ? "eu" : "us", "GET"], [1, Int64(i), 0], id: "b\(b)-\(i)")
                }
                _ = try await store.commit(IngestBatch(events: events, receivedAt: t0 + Int64(b)), dedupWindow: day)
            }
        }
        let accounts = (0..<7).map { "acct-\($0)" }
        var readsDuringIngest = 0
        var last: Int64 = 0
        while true {
            let finished = done.load(ordering: .acquiring)
            let rows = try await store.aggregate(dayQuery(accounts))
            let total = rows.first?.metrics[0] ?? 0
            #expect(total % Int64(perBatch) == 0, "a read saw part of a batch: \(total)")
            #expect(total >= last, "a read went back in time")
            last = total
            if finished { break }
            readsDuringIngest += 1
        }
        try await ingest.value
        #expect(readsDuringIngest > 1, "no read completed while the ingest was writing")
        #expect(last == Int64(batches * perBatch))
        let grouped = try await store.aggregate(dayQuery(accounts, groupBy: [0], byAccount: true))
        #expect(grouped.count == 14)
        #expect(grouped.reduce(0) { $0 + $1.metrics[0] } == Int64(batches * perBatch))
    }

    /// Columns are bound to names, not positions: reordering (or extending) a product's metrics
    /// and dimensions keeps old and new data under the right names, also after reopening.
    @Test func reorderedProductKeepsDataMappedByName() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.database("usage")
        func catalog(_ dims: [String], _ metrics: [String]) -> ProductCatalog {
            ProductCatalog([ProductSpec(name: "api", dimensions: dims, metrics: metrics.map { MetricSpec(name: $0, kind: .integer) })])
        }
        let v1 = catalog(["region", "method"], ["requests", "bytes", "cost"])
        let v2 = catalog(["method", "region"], ["cost", "requests", "bytes"])
        let v3 = catalog(["region", "method", "zone"], ["bytes", "errors", "cost", "requests"])

        let store = try await open(path, v1)
        _ = try await store.commit(IngestBatch(events: [apiEvent(t0, dims: ["eu", "GET"], [1, 100, 7])], receivedAt: t0), dedupWindow: day)

        try await store.prepare(products: v2)
        #expect(try await store.aggregate(dayQuery(groupBy: [0, 1])) == [StoreRow(bucket: t0, groups: ["GET", "eu"], metrics: [7, 1, 100])])
        _ = try await store.commit(IngestBatch(events: [apiEvent(t0, dims: ["PUT", "us"], [9, 2, 200])], receivedAt: t0 + 1), dedupWindow: day)
        _ = try await store.commit(IngestBatch(events: [apiEvent(t0, dims: ["GET", "eu"], [1, 1, 1])], receivedAt: t0 + 2), dedupWindow: day)
        #expect(try await store.aggregate(dayQuery(groupBy: [1])) == [
            StoreRow(bucket: t0, groups: ["eu"], metrics: [8, 2, 101]),
            StoreRow(bucket: t0, groups: ["us"], metrics: [9, 2, 200]),
        ])
        #expect(try await store.aggregate(StoreQuery(
            accounts: ["acme"], product: "api", tier: .hour, from: t0, to: t0 + 3_600, filters: [1: ["us"]]
        )) == [StoreRow(bucket: t0, groups: [], metrics: [9, 2, 200])])
        try await store.close()

        let reopened = try await open(path, v3)
        #expect(try await reopened.aggregate(dayQuery(groupBy: [0, 2])) == [
            StoreRow(bucket: t0, groups: ["eu", ""], metrics: [101, 0, 8, 2]),
            StoreRow(bucket: t0, groups: ["us", ""], metrics: [200, 0, 9, 2]),
        ])
        _ = try await reopened.commit(IngestBatch(events: [apiEvent(t0, dims: ["eu", "GET", "a"], [1, 5, 1, 1])], receivedAt: t0 + 3), dedupWindow: day)
        #expect(try await reopened.aggregate(dayQuery()) == [StoreRow(bucket: t0, groups: [], metrics: [302, 5, 18, 5])])
        try await reopened.close()
    }

    /// Rows grouped by account and all eight dimension columns, with more distinct strings than
    /// fit eight ranks in one sort key and rows that differ only in the last column, come out in
    /// the same order and with the same sums as from the in-memory store.
    @Test func wideGroupingMatchesTheMemoryStore() async throws {
        let dims = (0..<8).map { "d\($0)" }
        let catalog = ProductCatalog([ProductSpec(name: "api", dimensions: dims, metrics: [MetricSpec(name: "n", kind: .integer)])])
        let events = (0..<600).map { i in
            let shared = "h\((i / 2) * 7919 % 300)"
            return apiEvent(t0 + Int64(i), account: i % 3 == 0 ? "b" : "a", dims: Array(repeating: shared, count: 7) + ["z\(i % 2)"], [Int64(i)])
        }
        let dir = try TemporaryDirectory()
        let sqlite = try await open(dir.database(), catalog)
        let memory = MemoryUsageStore()
        for store in [sqlite, memory] as [any UsageStore] {
            _ = try await store.commit(IngestBatch(events: events, receivedAt: t0), dedupWindow: day)
        }
        for (byAccount, groupBy) in [(true, Array(0..<8)), (false, Array(0..<8)), (true, [7, 0])] {
            let q = dayQuery(["a", "b"], groupBy: groupBy, byAccount: byAccount)
            let rows = try await sqlite.aggregate(q)
            #expect(rows.count > 300)
            #expect(rows == (try await memory.aggregate(q)), "by account \(byAccount), groups \(groupBy)")
        }
        try await sqlite.close()
    }

    /// More distinct names than the fixed columns is a clear layout error, not a crash or a reuse.
    @Test func tooManyMetricNamesIsALayoutError() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteUsageStore(path: dir.database(), logger: .quiet)
        for round in 0..<2 {
            let names = (0..<ProductSpec.maxMetrics).map { "m\(round)-\($0)" }
            let catalog = ProductCatalog([ProductSpec(name: "api", dimensions: [], metrics: names.map { MetricSpec(name: $0, kind: .integer) })])
            if round == 0 {
                try await store.prepare(products: catalog)
            } else {
                let error = await #expect(throws: StoreError.self) { try await store.prepare(products: catalog) }
                #expect(error?.code == .layout)
            }
        }
    }
}
