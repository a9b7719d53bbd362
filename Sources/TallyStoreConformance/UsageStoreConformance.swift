import TallyCore
import TallyStore
import Testing

/// The behaviour every `UsageStore` must show, shipped as a library so each backend's tests run
/// the same checks (the memory store included).
///
/// Each check builds its own store with `makeStore`, prepares it for `catalog`, and closes it at
/// the end, so checks are independent and can run in parallel. Failures are recorded with Swift
/// Testing's `#expect`, so the checks must run inside a test:
///
/// ```swift
/// @Test(arguments: UsageStoreConformance.Check.allCases)
/// func conformance(_ check: UsageStoreConformance.Check) async throws {
///     try await UsageStoreConformance { MemoryUsageStore() }.run(check)
/// }
/// ```
public struct UsageStoreConformance: Sendable {
    public typealias MakeStore = @Sendable () async throws -> any UsageStore

    /// Every check of the suite, by name.
    public enum Check: String, CaseIterable, Sendable {
        case sumsAtEveryTier
        case groupByAccount
        case groupByDimensions
        case filters
        case accountSubset
        case bucketBoundaries
        case rowOrder
        case productsAreSeparate
        case identifiersAreExact
        case overflowRollsBackBatch
        case overflowAcrossBatches
        case overflowInCoarserTier
        case aggregateOverflowThrows
        case dedupWithinWindow
        case dedupWithinOneBatch
        case dedupAfterWindow
        case dedupPerSource
        case idempotencyReplay
        case checkpoints
        case concurrentCommits
        case largeBatch
        case unknownAccounts
        case emptyRange
        case lastCommitMoves
        case readsSeeLatestCommit
    }

    /// The names of every check, for `@Test(arguments:)`.
    public static var checkNames: [String] { Check.allCases.map(\.rawValue) }

    let makeStore: MakeStore

    /// `makeStore` must return a new, empty store on every call.
    public init(makeStore: @escaping MakeStore) {
        self.makeStore = makeStore
    }

    public func run(_ check: Check) async throws {
        switch check {
        case .sumsAtEveryTier: try await sumsAtEveryTier()
        case .groupByAccount: try await groupByAccount()
        case .groupByDimensions: try await groupByDimensions()
        case .filters: try await filters()
        case .accountSubset: try await accountSubset()
        case .bucketBoundaries: try await bucketBoundaries()
        case .rowOrder: try await rowOrder()
        case .productsAreSeparate: try await productsAreSeparate()
        case .identifiersAreExact: try await identifiersAreExact()
        case .overflowRollsBackBatch: try await overflowRollsBackBatch()
        case .overflowAcrossBatches: try await overflowAcrossBatches()
        case .overflowInCoarserTier: try await overflowInCoarserTier()
        case .aggregateOverflowThrows: try await aggregateOverflowThrows()
        case .dedupWithinWindow: try await dedupWithinWindow()
        case .dedupWithinOneBatch: try await dedupWithinOneBatch()
        case .dedupAfterWindow: try await dedupAfterWindow()
        case .dedupPerSource: try await dedupPerSource()
        case .idempotencyReplay: try await idempotencyReplay()
        case .checkpoints: try await checkpoints()
        case .concurrentCommits: try await concurrentCommits()
        case .largeBatch: try await largeBatch()
        case .unknownAccounts: try await unknownAccounts()
        case .emptyRange: try await emptyRange()
        case .lastCommitMoves: try await lastCommitMoves()
        case .readsSeeLatestCommit: try await readsSeeLatestCommit()
        }
    }

    /// Runs the check called `name` (one of `checkNames`).
    public func run(named name: String) async throws {
        guard let check = Check(rawValue: name) else {
            throw ConformanceFailure("no conformance check is called \(name)")
        }
        try await run(check)
    }

    /// Runs every check but `skipped` in turn; a check that throws is recorded and the others still run.
    public func runAll(skipping skipped: Set<Check> = []) async throws {
        var failed: [String] = []
        for check in Check.allCases where !skipped.contains(check) {
            do {
                try await run(check)
            } catch {
                Issue.record(error, "conformance check \(check.rawValue) threw")
                failed.append(check.rawValue)
            }
        }
        if !failed.isEmpty {
            throw ConformanceFailure("conformance checks threw: \(failed.joined(separator: ", "))")
        }
    }

    /// Makes a store, prepares it for `catalog`, runs `body` and closes the store, also on failure.
    func withStore(_ body: (any UsageStore) async throws -> Void) async throws {
        let store = try await makeStore()
        try await store.prepare(products: Self.catalog)
        do {
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }
}

/// A conformance check that could not run (its message says why).
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
