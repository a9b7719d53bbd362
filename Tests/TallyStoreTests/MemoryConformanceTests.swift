import TallyStore
import TallyStoreConformance
import Testing

/// The shared conformance suite against the in-memory reference store.
@Suite("MemoryUsageStore conformance")
struct MemoryConformanceTests {
    static let suite = UsageStoreConformance { MemoryUsageStore() }

    /// Checks this store is known to fail; each has a disabled test of its own below.
    static let knownBugs: Set<UsageStoreConformance.Check> = [.identifiersAreExact]

    @Test(arguments: UsageStoreConformance.Check.allCases.filter { !knownBugs.contains($0) })
    func conformance(_ check: UsageStoreConformance.Check) async throws {
        try await Self.suite.run(check)
    }

    @Test(.disabled("""
        bug: MemoryUsageStore keys accounts, dimension values, dedup keys and idempotency keys by Swift String, \
        whose == and hashing treat canonically equivalent spellings as one: NFD "cafe\\u{301}" is merged into NFC \
        "caf\\u{E9}" (its sums land in the NFC row, a query for it returns nothing, its event id counts as a \
        duplicate and its idempotency key replays the other's receipt). CellAccumulator (TallyStore) merges them \
        inside a batch the same way. SQLiteUsageStore keeps them apart in SQL.
        """))
    func identifiersAreExact() async throws {
        try await Self.suite.run(.identifiersAreExact)
    }

    @Test func checksAreReachableByName() async throws {
        #expect(UsageStoreConformance.checkNames == UsageStoreConformance.Check.allCases.map(\.rawValue))
        try await Self.suite.run(named: "checkpoints")
        await #expect(throws: ConformanceFailure.self) { try await Self.suite.run(named: "no-such-check") }
    }

    @Test func runAllRunsEveryCheck() async throws {
        try await Self.suite.runAll(skipping: Self.knownBugs)
    }
}
