import Testing
import TallyCore
import TallyStore

@testable import TallyReports

/// Streamed reports come in slices sized by their rows, so a dense grouped report is never read whole.
@Suite struct SlicingTests {
    @Test func nextSliceHoldsAboutTheRowBudget() {
        for (buckets, rows, expected) in [(32, 32_000, 16), (32, 10, 512), (512, 10_000_000, 1), (16, 16_384, 16), (1, 0, 512)] {
            #expect(ReportEngine.nextSlice(buckets: buckets, rows: rows) == expected, "\(buckets) buckets, \(rows) rows")
        }
    }

    @Test func aDenseGroupedReportStreamsInBoundedSlices() async throws {
        let hosts = 700, hours = 48
        let catalog = ProductCatalog([ProductSpec(name: "web", dimensions: ["hostname"], metrics: [MetricSpec(name: "bytes", kind: .integer)])])
        let store = MemoryUsageStore()
        try await store.prepare(products: catalog)
        let start = utc("2026-01-01T00:00:00Z")
        let events = (0..<hours * hosts).map { i in
            UsageEvent(time: start + Int64(i / hosts) * 3600, account: "a1", product: "web", dimensions: ["h\(i % hosts)"], metrics: [Int64(i + 1)])
        }
        _ = try await store.commit(IngestBatch(events: events, receivedAt: start + 86400 * 3), dedupWindow: 0)
        let engine = ReportEngine(store: store, catalog: catalog, now: { start + 86400 * 3 })
        var q = ReportQuery(accounts: ["a1"], product: "web", from: start, to: start + Int64(hours) * 3600)
        q.bucket = .hour
        q.groupBy = ["hostname"]

        var chunks: [[ReportRow]] = []
        _ = try await engine.stream(q) { rows in
            chunks.append(rows)
            return true
        }
        // 32 buckets first (22,400 rows), then slices sized to hold about 16,384 rows (23 buckets).
        #expect(chunks.map { Set($0.map(\.start)).count } == [32, 16])
        #expect(chunks.dropFirst().allSatisfy { $0.count <= ReportEngine.sliceRows })
        let streamed = chunks.flatMap { $0 }
        #expect(streamed == (try await engine.run(q)).rows)
        #expect(streamed.count == hours * hosts)
        #expect(streamed.reduce(0) { $0 + $1.values[0] } == Int64(hours * hosts) * Int64(hours * hosts + 1) / 2)
    }
}
