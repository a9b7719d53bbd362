import TallyStore
import TallyStoreConformance
import Testing

/// The shared conformance suite against the in-memory reference store.
@Suite("MemoryUsageStore conformance")
struct MemoryConformanceTests {
    static let suite = UsageStoreConformance { MemoryUsageStore() }

    /// Checks this store is known to fail (none now).
    static let knownBugs: Set<UsageStoreConformance.Check> = []

    @Test(arguments: UsageStoreConformance.Check.allCases.filter { !knownBugs.contains($0) })
    func conformance(_ check: UsageStoreConformance.Check) async throws {
        try await Self.suite.run(check)
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
