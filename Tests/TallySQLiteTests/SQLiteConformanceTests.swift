import Foundation
import Logging
import TallySQLite
import TallyStoreConformance
import Testing

/// The shared conformance suite against real SQLite files, a fresh file per store.
@Suite("SQLiteUsageStore conformance")
struct SQLiteConformanceTests {
    /// Checks this store is known to fail; each has a disabled test of its own below.
    static let knownBugs: Set<UsageStoreConformance.Check> = [.identifiersAreExact]

    func suite(_ dir: TemporaryDirectory) -> UsageStoreConformance {
        UsageStoreConformance { try SQLiteUsageStore(path: dir.database(), logger: .quiet) }
    }

    @Test(arguments: UsageStoreConformance.Check.allCases.filter { !knownBugs.contains($0) })
    func conformance(_ check: UsageStoreConformance.Check) async throws {
        let dir = try TemporaryDirectory()
        try await suite(dir).run(check)
    }

    @Test(.disabled("""
        bug: SQLiteUsageStore caches account ids in accountIDs: [String: Int64] and series ids in seriesCache \
        (SeriesKey.dims: [String]), and Swift String equality merges canonically equivalent spellings: once NFC \
        "caf\\u{E9}" is cached, events of NFD "cafe\\u{301}" are written under the NFC account (or series), so a query \
        for the NFD account returns nothing; after a restart (empty cache) the same input is kept apart, so the \
        answer depends on process history. CellAccumulator (TallyStore) also merges the two inside one batch.
        """))
    func identifiersAreExact() async throws {
        let dir = try TemporaryDirectory()
        try await suite(dir).run(.identifiersAreExact)
    }
}
