import Synchronization
import TallyCore

/// The reference `UsageStore`: everything in memory, nothing survives the process.
public final class MemoryUsageStore: UsageStore {
    /// One aggregate: account, product, tier bucket start and dimension values, as exact strings.
    struct CellKey: Hashable {
        var account: ExactKey
        var product: ExactKey
        var bucket: Int64
        var dimensions: [ExactKey]
    }

    struct State {
        var tiers: [Tier: [CellKey: [Int64]]] = [:]
        var seen: [DedupKey: Int64] = [:]
        var receipts: [ExactKey: IngestReceipt] = [:]
        var checkpoints: [String: String] = [:]
        var lastCommit: Int64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func prepare(products: ProductCatalog) async throws {}

    public func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        let c = batch.columns
        return try state.withLock { s in
            if let key = batch.idempotencyKey, let r = s.receipts[ExactKey(key)] {
                var replay = r
                replay.replayed = true
                return replay
            }
            // Count the batch into quarter-hour cells of its series, skipping duplicates.
            var newKeys: [DedupKey: Int64] = [:]
            var quarters: [SeriesQuarter: [Int64]] = [:]
            var accepted = 0
            for i in 0..<c.count {
                if let k = c.keys[i] {
                    if newKeys[k] != nil { continue }
                    if let t = s.seen[k], batch.receivedAt - t < dedupWindow { continue }
                    newKeys[k] = batch.receivedAt
                }
                try quarters.addExactly(Array(c.metricValues(at: i)), at: SeriesQuarter(series: c.eventSeries[i], quarter: floorDiv(c.times[i], 900) * 900))
                accepted += 1
            }
            // Work out every changed sum first, so an overflow leaves the state untouched.
            var changes: [Tier: [CellKey: [Int64]]] = [:]
            for (sq, metrics) in quarters {
                let series = c.series[Int(sq.series)]
                for tier in Tier.allCases {
                    let key = CellKey(account: ExactKey(c.strings[Int(series[0])]), product: ExactKey(c.strings[Int(series[1])]),
                                      bucket: floorDiv(sq.quarter, tier.seconds) * tier.seconds,
                                      dimensions: c.dimensions(of: series).map { ExactKey(c.strings[Int($0)]) })
                    if changes[tier]?[key] == nil, let old = s.tiers[tier]?[key] { changes[tier, default: [:]][key] = old }
                    try changes[tier, default: [:]].addExactly(metrics, at: key)
                }
            }
            for (tier, cells) in changes { s.tiers[tier, default: [:]].merge(cells) { $1 } }
            s.seen.merge(newKeys) { $1 }
            if s.seen.count > 2 * max(newKeys.count, 1_000) { s.seen = s.seen.filter { batch.receivedAt - $0.value < dedupWindow } }
            let receipt = IngestReceipt(accepted: accepted, duplicates: c.count - accepted)
            if let key = batch.idempotencyKey { s.receipts[ExactKey(key)] = receipt }
            if let cp = batch.checkpoint { s.checkpoints[cp.reader] = cp.position }
            s.lastCommit = batch.receivedAt
            return receipt
        }
    }

    struct SeriesQuarter: Hashable {
        var series: Int32
        var quarter: Int64
    }

    public func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let accounts = Set(q.accounts.map(ExactKey.init))
        let product = ExactKey(q.product)
        let filters = q.filters.mapValues { Set($0.map(ExactKey.init)) }
        let cells = state.withLock { $0.tiers[q.tier] ?? [:] }
        struct GroupKey: Hashable { var bucket: Int64; var account: ExactKey?; var groups: [ExactKey] }
        var sums: [GroupKey: [Int64]] = [:]
        for (k, m) in cells where k.product == product && k.bucket >= q.from && k.bucket < q.to && accounts.contains(k.account) {
            if !filters.allSatisfy({ $0.value.contains(k.dimensions[$0.key]) }) { continue }
            let g = GroupKey(bucket: k.bucket, account: q.groupByAccount ? k.account : nil, groups: q.groupBy.map { k.dimensions[$0] })
            try sums.addExactly(m, at: g)
        }
        return sums.map { StoreRow(bucket: $0.key.bucket, account: $0.key.account?.value, groups: $0.key.groups.map(\.value), metrics: $0.value) }
            .sorted(by: StoreRow.precedes)
    }

    public func checkpoint(reader: String) async throws -> String? { state.withLock { $0.checkpoints[reader] } }

    public func stats() async throws -> StoreStats { StoreStats(bytesOnDisk: 0, lastCommit: state.withLock { $0.lastCommit }) }

    public func close() async throws {}
}

extension StoreRow {
    /// The order every store returns rows in: bucket, account, group values (by UTF-8 bytes,
    /// which is Unicode scalar order).
    public static func precedes(_ a: StoreRow, _ b: StoreRow) -> Bool {
        if a.bucket != b.bucket { return a.bucket < b.bucket }
        if !(a.account ?? "").utf8.elementsEqual((b.account ?? "").utf8) {
            return (a.account ?? "").utf8.lexicographicallyPrecedes((b.account ?? "").utf8)
        }
        for (x, y) in zip(a.groups, b.groups) where !x.utf8.elementsEqual(y.utf8) {
            return x.utf8.lexicographicallyPrecedes(y.utf8)
        }
        return a.groups.count < b.groups.count
    }
}
