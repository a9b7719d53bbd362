import Synchronization
import Testing
import TallyCore
import TallyStore

@testable import TallyReports

/// A memory store that counts the reads it answers (the real store underneath does the work).
final class CountingStore: UsageStore {
    let inner = MemoryUsageStore()
    let reads = Mutex(0)
    func prepare(products: ProductCatalog) async throws { try await inner.prepare(products: products) }
    func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt { try await inner.commit(batch, dedupWindow: dedupWindow) }
    func aggregate(_ query: StoreQuery) async throws -> [StoreRow] {
        reads.withLock { $0 += 1 }
        return try await inner.aggregate(query)
    }
    func checkpoint(reader: String) async throws -> String? { try await inner.checkpoint(reader: reader) }
    func stats() async throws -> StoreStats { try await inner.stats() }
    func close() async throws { try await inner.close() }
}

/// Long sparse ranges read only the slices of buckets on days with usage, with the same rows.
@Suite struct SparseRangeTests {
    static let times = [utc("1990-03-01T23:59:59Z"), utc("1990-03-02T00:00:00Z"), utc("2026-01-05T10:20:00Z"), utc("2026-01-05T10:40:00Z")]

    static func store() async throws -> CountingStore {
        let store = CountingStore()
        try await store.prepare(products: Fixture.catalog)
        let events = times.enumerated().map { i, t in
            UsageEvent(time: t, account: i % 2 == 0 ? "a1" : "a2", product: "proxy", dimensions: ["us", "http"], metrics: [Int64(i + 1) * 1000, 0, 1])
        }
        _ = try await store.commit(IngestBatch(events: events, receivedAt: utc("2027-01-01T00:00:00Z")), dedupWindow: 86400)
        return store
    }

    @Test func decadesOfHoursReadOnlyTheBusySlices() async throws {
        let store = try await Self.store()
        let engine = Fixture.engine(store)
        var q = ReportQuery(accounts: ["a1", "a2"], product: "proxy", from: utc("1980-01-01T00:00:00Z"), to: utc("2027-01-01T00:00:00Z"))
        q.bucket = .hour
        q.groupByAccount = true
        q.metrics = ["bytes"]
        let rows = try await engine.run(q).rows
        #expect(rows.map { [$0.start, $0.values[0]] } == [[utc("1990-03-01T23:00:00Z"), 1000], [utc("1990-03-02T00:00:00Z"), 2000], [utc("2026-01-05T10:00:00Z"), 3000], [utc("2026-01-05T10:00:00Z"), 4000]])
        #expect(rows.map(\.account) == ["a1", "a2", "a1", "a2"])
        // One probe of the day tier, then the two or three slices that hold those days (of about 806).
        #expect(store.reads.withLock { $0 } <= 4)
        // Gap filling still reads every slice, and its totals agree.
        store.reads.withLock { $0 = 0 }
        var filled = q
        filled.groupByAccount = false
        filled.fillGaps = true
        filled.from = utc("2025-01-01T00:00:00Z")
        let all = try await engine.run(filled).rows
        #expect(all.count == 2 * 8760)
        #expect(all.reduce(0) { $0 + $1.values[0] } == 7000)
        #expect(store.reads.withLock { $0 } == (all.count + ReportEngine.slice - 1) / ReportEngine.slice)
    }

    static let day: Int64 = 86400
    static let overlapCases: [(days: [Int64], from: Int64, to: Int64, expected: Bool)] = [
        ([], 0, day, false),
        ([0], 0, 1, true),
        ([0], day, 2 * day, false),
        ([0, 5 * day], day - 1, day, true),
        ([0, 5 * day], day, 5 * day, false),
        ([0, 5 * day], day, 5 * day + 1, true),
        ([-day], -1, 0, true),
    ]

    @Test func dayOverlap() {
        for c in Self.overlapCases {
            #expect(ReportEngine.anyDay(c.days, overlaps: c.from, c.to) == c.expected, "\(c)")
        }
    }
}
