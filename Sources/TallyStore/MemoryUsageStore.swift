import Synchronization
import TallyCore

/// The reference `UsageStore`: everything in memory, nothing survives the process.
public final class MemoryUsageStore: UsageStore {
    struct State {
        var tiers: [Tier: [CellKey: [Int64]]] = [:]
        var seen: [String: Int64] = [:]
        var receipts: [String: IngestReceipt] = [:]
        var checkpoints: [String: String] = [:]
        var lastCommit: Int64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func prepare(products: ProductCatalog) async throws {}

    public func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        try state.withLock { s in
            if let key = batch.idempotencyKey, let r = s.receipts[key] {
                var replay = r
                replay.replayed = true
                return replay
            }
            var acc = CellAccumulator()
            var seen = s.seen
            for e in batch.events {
                if let k = e.dedupKey {
                    if let t = seen[k], batch.receivedAt - t < dedupWindow {
                        acc.countDuplicate()
                        continue
                    }
                    seen[k] = batch.receivedAt
                }
                try acc.add(e)
            }
            var tiers = s.tiers
            for (key, metrics) in acc.cells {
                for tier in Tier.allCases {
                    var k = key
                    k.quarter = floorDiv(key.quarter, tier.seconds) * tier.seconds
                    try tiers[tier, default: [:]].addExactly(metrics, at: k)
                }
            }
            // Nothing above threw: publish the whole batch at once.
            s.tiers = tiers
            s.seen = seen.filter { batch.receivedAt - $0.value < dedupWindow }
            let receipt = IngestReceipt(accepted: acc.accepted, duplicates: acc.duplicates)
            if let key = batch.idempotencyKey { s.receipts[key] = receipt }
            if let c = batch.checkpoint { s.checkpoints[c.reader] = c.position }
            s.lastCommit = batch.receivedAt
            return receipt
        }
    }

    public func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let accounts = Set(q.accounts)
        let cells = state.withLock { $0.tiers[q.tier] ?? [:] }
        struct GroupKey: Hashable { var bucket: Int64; var account: String?; var groups: [String] }
        var sums: [GroupKey: [Int64]] = [:]
        for (k, m) in cells where k.product == q.product && k.quarter >= q.from && k.quarter < q.to && accounts.contains(k.account) {
            if !q.filters.allSatisfy({ $0.value.contains(k.dimensions[$0.key]) }) { continue }
            let g = GroupKey(bucket: k.quarter, account: q.groupByAccount ? k.account : nil, groups: q.groupBy.map { k.dimensions[$0] })
            try sums.addExactly(m, at: g)
        }
        return sums.map { StoreRow(bucket: $0.key.bucket, account: $0.key.account, groups: $0.key.groups, metrics: $0.value) }
            .sorted(by: StoreRow.precedes)
    }

    public func checkpoint(reader: String) async throws -> String? { state.withLock { $0.checkpoints[reader] } }

    public func stats() async throws -> StoreStats { StoreStats(bytesOnDisk: 0, lastCommit: state.withLock { $0.lastCommit }) }

    public func close() async throws {}
}

extension StoreRow {
    /// The order every store returns rows in: bucket, account, group values.
    public static func precedes(_ a: StoreRow, _ b: StoreRow) -> Bool {
        if a.bucket != b.bucket { return a.bucket < b.bucket }
        if a.account != b.account { return (a.account ?? "") < (b.account ?? "") }
        return a.groups.lexicographicallyPrecedes(b.groups)
    }
}
