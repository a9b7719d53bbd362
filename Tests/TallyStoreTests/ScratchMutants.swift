import Synchronization
import TallyCore
import TallyStore
import TallyStoreConformance
import Testing

enum Mutation: String, CaseIterable, Sendable { case staleStats, reversedRows, noIdempotency, noDedup, doubleSums, dropEmptyCheckpoint, swallowOverflow }

final class Mutant: UsageStore {
    let inner = MemoryUsageStore()
    let m: Mutation
    let firstStats = Mutex<StoreStats?>(nil)
    init(_ m: Mutation) { self.m = m }
    func prepare(products: ProductCatalog) async throws {}
    func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        var b = batch
        switch m {
        case .noIdempotency: b.idempotencyKey = nil
        case .noDedup: b.events = b.events.map { var e = $0; e.id = nil; return e }
        case .dropEmptyCheckpoint: if b.events.isEmpty { b.checkpoint = nil }
        case .swallowOverflow:
            do { return try await inner.commit(b, dedupWindow: dedupWindow) } catch {
                var ok: [UsageEvent] = []
                for e in b.events { if (try? await inner.commit(IngestBatch(events: ok + [e], receivedAt: b.receivedAt), dedupWindow: 0)) != nil { ok = [] } }
                throw error
            }
        default: break
        }
        return try await inner.commit(b, dedupWindow: dedupWindow)
    }
    func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let rows = try await inner.aggregate(q)
        switch m {
        case .reversedRows: return rows.reversed()
        case .doubleSums: return rows.map { var r = $0; r.metrics = r.metrics.map { Int64(Double($0)) }; return r }
        default: return rows
        }
    }
    func checkpoint(reader: String) async throws -> String? { try await inner.checkpoint(reader: reader) }
    func stats() async throws -> StoreStats {
        let s = try await inner.stats()
        if m == .staleStats { return firstStats.withLock { f in if f == nil || f!.lastCommit == 0 { f = s }; return f! } }
        return s
    }
    func close() async throws {}
}

@Test(arguments: Mutation.allCases)
func mutant(_ m: Mutation) async throws {
    let suite = UsageStoreConformance { Mutant(m) }
    for c in UsageStoreConformance.Check.allCases where c != .identifiersAreExact {
        print("MUTANT", m, c)
        try await suite.run(c)
    }
}
