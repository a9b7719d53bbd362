import Foundation
import TallyCore
import TallyStore
import TallyStoreConformance
import Testing

@testable import TallySQLite

/// The fragments a commit builds before it queues (`PreparedBatch`, used when every event is
/// admitted) against the ones the writer builds when some event is a duplicate: both must give
/// the same cells, the same reports and the same dedup answers.
@Suite("PreparedBatch")
struct PreparedBatchTests {
    static let catalog = UsageStoreConformance.catalog
    static let regions = ["eu", "us", "", "zürich", "cafe\u{301}", "caf\u{e9}"]

    /// Deterministic events with ids over two products, a few accounts and three days, several per cell.
    static func events(_ range: Range<Int>, source: String = "s") -> [UsageEvent] {
        range.map { i in
            let time = t0 - 3_600 + Int64((i * 7_919) % Int(3 * day))
            let account = ["acme", "beta", "o'neil"][i % 3]
            if i % 5 == 0 {
                return UsageEvent(id: "e\(i)", source: source, time: time, account: account, product: "storage", dimensions: [i % 2 == 0 ? "hot" : "cold"], metrics: [Int64(i) * 1_000_003])
            }
            return UsageEvent(id: i % 11 == 0 ? nil : "e\(i)", source: source, time: time, account: account, product: "api",
                              dimensions: [regions[(i / 3) % regions.count], i % 4 == 0 ? "PUT" : "GET"],
                              metrics: [1, Int64(i % 97) - 40, i % 37 == 0 ? 9_007_199_254_740_993 : Int64(i)])
        }
    }

    func open(_ dir: TemporaryDirectory) async throws -> SQLiteUsageStore {
        let store = try SQLiteUsageStore(path: dir.database(), logger: .quiet)
        try await store.prepare(products: Self.catalog)
        return store
    }

    /// Every query the checks compare: each tier and product, with and without grouping.
    static var queries: [StoreQuery] {
        Tier.allCases.flatMap { tier in
            [
                StoreQuery(accounts: ["acme", "beta", "o'neil"], product: "api", tier: tier, from: t0 - 2 * day, to: t0 + 4 * day, groupByAccount: true, groupBy: [0, 1]),
                StoreQuery(accounts: ["acme", "beta", "o'neil"], product: "api", tier: tier, from: t0 - 2 * day, to: t0 + 4 * day),
                StoreQuery(accounts: ["acme", "o'neil"], product: "storage", tier: tier, from: t0 - 2 * day, to: t0 + 4 * day, groupByAccount: true, groupBy: [0]),
            ]
        }
    }

    /// One store gets duplicate-free batches (the prepared fragments); the other the same events
    /// with copies inside a batch and repeated from an earlier batch (the writer's rebuild). Both
    /// report the same as the in-memory store, and answer a later batch's dedup the same way.
    @Test func fastPathAndRebuildAgree() async throws {
        let dir = try TemporaryDirectory()
        let clean = try await open(dir), mixed = try await open(dir)
        let memory = MemoryUsageStore()
        let first = Self.events(0..<3_000), second = Self.events(3_000..<6_000)
        let withIds = first.filter { $0.id != nil }
        // Copies inside the batch, and in the second batch repeats of the first.
        let mixedFirst = first + withIds.prefix(200) + withIds.suffix(5)
        let mixedSecond = Array(withIds[100..<400]) + second + second.filter { $0.id != nil }.prefix(50)
        for store in [clean, memory] as [any UsageStore] {
            #expect(try await store.commit(IngestBatch(events: first, receivedAt: t0), dedupWindow: day).accepted == first.count)
            #expect(try await store.commit(IngestBatch(events: second, receivedAt: t0 + 10), dedupWindow: day).accepted == second.count)
        }
        #expect(try await mixed.commit(IngestBatch(events: mixedFirst, receivedAt: t0), dedupWindow: day) == IngestReceipt(accepted: first.count, duplicates: 205))
        #expect(try await mixed.commit(IngestBatch(events: mixedSecond, receivedAt: t0 + 10), dedupWindow: day) == IngestReceipt(accepted: second.count, duplicates: 350))
        for q in Self.queries {
            let expected = try await memory.aggregate(q)
            #expect(!expected.isEmpty)
            #expect(try await clean.aggregate(q) == expected, "duplicate-free at \(q.tier) \(q.product)")
            #expect(try await mixed.aggregate(q) == expected, "with duplicates at \(q.tier) \(q.product)")
        }
        // Old ids (from both batches), new ids and events without one: the same answers everywhere.
        let later = Array(first.suffix(40)) + Array(second.prefix(40)) + Self.events(6_000..<6_100)
        let receipts = try await ([clean, mixed, memory] as [any UsageStore]).asyncMap { try await $0.commit(IngestBatch(events: later, receivedAt: t0 + 20), dedupWindow: day) }
        #expect(receipts[0].duplicates > 0)
        #expect(receipts[0] == receipts[2] && receipts[1] == receipts[2])
        for q in Self.queries { #expect(try await mixed.aggregate(q) == (try await clean.aggregate(q))) }
    }

    /// Building with events skipped gives the same cells as building from columns without them,
    /// and each fragment's magnitude is the one `CellBlock` computes from its cells.
    @Test func skippingEventsEqualsLeavingThemOut() throws {
        let events = Self.events(0..<2_000)
        let layouts = try Self.layouts()
        let skip = events.indices.map { $0 % 3 == 1 }
        let kept = events.indices.filter { !skip[$0] }.map { events[$0] }
        let all = EventColumns(events), fewer = EventColumns(kept)
        let skipped = try PreparedBatch(all, skipping: skip, layouts: layouts, generation: 0)
        let direct = try PreparedBatch(fewer, skipping: nil, layouts: layouts, generation: 0)
        let everything = try PreparedBatch(all, skipping: nil, layouts: layouts, generation: 0)
        #expect(try Self.cells(skipped, all) == Self.cells(direct, fewer))
        #expect(try Self.cells(skipped, all) != Self.cells(everything, all))
        for f in everything.fragments {
            let block = try CellBlock(decoding: everything.bytes[f.bytes])
            #expect(f.magnitude == block.magnitude)
            #expect(block.count > 0)
        }
    }

    /// A batch whose prepared sums overflow is refused whole; the same batch whose overflowing
    /// event is a duplicate (so building before the writer failed) is committed by the rebuild.
    @Test func overflowIsRefusedUnlessTheOverflowingEventIsADuplicate() async throws {
        let dir = try TemporaryDirectory()
        let store = try await open(dir)
        let big = UsageEvent(id: "big", source: "s", time: t0, account: "acme", product: "api", dimensions: ["eu", "GET"], metrics: [1, .max - 5, 0])
        let small = UsageEvent(id: "small", source: "s", time: t0 + 60, account: "acme", product: "api", dimensions: ["eu", "GET"], metrics: [1, 10, 0])
        let error = await #expect(throws: StoreError.self) {
            try await store.commit(IngestBatch(events: [big, small], idempotencyKey: "k", receivedAt: t0), dedupWindow: day)
        }
        #expect(error?.code == .overflow)
        let q = StoreQuery(accounts: ["acme"], product: "api", tier: .quarterHour, from: t0, to: t0 + day)
        #expect(try await store.aggregate(q) == [])
        // Nothing of the refused batch stayed: neither its receipt nor its dedup keys.
        #expect(try await store.commit(IngestBatch(events: [big, big], idempotencyKey: "k", receivedAt: t0 + 1), dedupWindow: day) == IngestReceipt(accepted: 1, duplicates: 1))
        #expect(try await store.aggregate(q) == [StoreRow(bucket: t0, groups: [], metrics: [1, .max - 5, 0])])
        let again = await #expect(throws: StoreError.self) {
            try await store.commit(IngestBatch(events: [small], receivedAt: t0 + 2), dedupWindow: day)
        }
        #expect(again?.code == .overflow)
        #expect(try await store.commit(IngestBatch(events: [big, UsageEvent(id: "n", source: "s", time: t0 + 5, account: "acme", product: "api", dimensions: ["us", "GET"], metrics: [2, 2, 2])], receivedAt: t0 + 3), dedupWindow: day) == IngestReceipt(accepted: 1, duplicates: 1))
        #expect(try await store.aggregate(StoreQuery(accounts: ["acme"], product: "api", tier: .day, from: t0, to: t0 + day, groupBy: [0])) == [
            StoreRow(bucket: t0, groups: ["eu"], metrics: [1, .max - 5, 0]),
            StoreRow(bucket: t0, groups: ["us"], metrics: [2, 2, 2]),
        ])
    }

    /// A product the store was not prepared for is refused with `.invalid`, as before the writer.
    @Test func unknownProductIsInvalid() async throws {
        let dir = try TemporaryDirectory()
        let store = try await open(dir)
        let e = UsageEvent(id: "x", source: "s", time: t0, account: "acme", product: "nope", dimensions: [], metrics: [1])
        let error = await #expect(throws: StoreError.self) { try await store.commit(IngestBatch(events: [e], receivedAt: t0), dedupWindow: day) }
        #expect(error?.code == .invalid)
    }

    static func layouts() throws -> [String: SQLiteUsageStore.Layout] {
        var out: [String: SQLiteUsageStore.Layout] = [:]
        for p in catalog.products {
            out[p.name] = SQLiteUsageStore.Layout(dimensionColumns: Array(p.dimensions.indices), metricColumns: Array(p.metrics.indices))
        }
        return out
    }

    /// A cell of a fragment, named by the exact bytes of its strings.
    struct Cell: Hashable {
        var account: String
        var product: String
        var tier: Tier
        var bucket: Int64
        var dimensions: [[UInt8]]
    }

    /// Every fragment's cells with their sums (each block appears once per batch).
    static func cells(_ p: PreparedBatch, _ c: EventColumns) throws -> [Cell: [Int64]] {
        var out: [Cell: [Int64]] = [:]
        for f in p.fragments {
            let block = try CellBlock(decoding: p.bytes[f.bytes])
            for i in 0..<block.count {
                let dims = (0..<block.dimensionColumns).map { Array(block.strings[Int(block.dims[i * block.dimensionColumns + $0])].utf8) }
                let key = Cell(account: c.strings[Int(f.account)], product: c.strings[Int(f.product)], tier: f.tier, bucket: f.bucket, dimensions: dims)
                #expect(out[key] == nil, "a cell appears twice: \(key)")
                out[key] = Array(block.sums[(i * block.metricColumns)..<((i + 1) * block.metricColumns)])
            }
        }
        return out
    }
}

extension Array {
    func asyncMap<T>(_ body: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await body(e)) }
        return out
    }
}
