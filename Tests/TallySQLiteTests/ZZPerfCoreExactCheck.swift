import TallySQLite
import TallyStore
import TallyStoreConformance
import Testing

@Suite struct ZZPerfCoreExactCheck {
    @Test func sqliteExact() async throws {
        let dir = try TemporaryDirectory()
        try await UsageStoreConformance { try SQLiteUsageStore(path: dir.database(), logger: .quiet) }.run(.identifiersAreExact)
    }
    @Test func memoryExact() async throws {
        try await UsageStoreConformance { MemoryUsageStore() }.run(.identifiersAreExact)
    }
}
