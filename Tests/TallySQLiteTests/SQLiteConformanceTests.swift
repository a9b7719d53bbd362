import Foundation
import Logging
import TallySQLite
import TallyStoreConformance
import Testing

/// The shared conformance suite against real SQLite files, a fresh file per store.
@Suite("SQLiteUsageStore conformance")
struct SQLiteConformanceTests {
    /// Checks this store is known to fail (none now).
    static let knownBugs: Set<UsageStoreConformance.Check> = []

    func suite(_ dir: TemporaryDirectory) -> UsageStoreConformance {
        UsageStoreConformance { try SQLiteUsageStore(path: dir.database(), logger: .quiet) }
    }

    @Test(arguments: UsageStoreConformance.Check.allCases.filter { !knownBugs.contains($0) })
    func conformance(_ check: UsageStoreConformance.Check) async throws {
        let dir = try TemporaryDirectory()
        try await suite(dir).run(check)
    }
}
