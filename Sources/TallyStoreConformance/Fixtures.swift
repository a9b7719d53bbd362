import TallyCore
import TallyStore

extension UsageStoreConformance {
    /// The products every check's store is prepared for.
    public static let catalog = ProductCatalog([
        ProductSpec(
            name: "api", dimensions: ["region", "method"],
            metrics: [
                MetricSpec(name: "requests", kind: .integer),
                MetricSpec(name: "bytes", kind: .integer),
                MetricSpec(name: "cost", kind: .decimal(scale: 6)),
            ]),
        ProductSpec(
            name: "storage", dimensions: ["class"],
            metrics: [MetricSpec(name: "gb_seconds", kind: .integer)]),
    ])

    /// 2026-01-01T00:00:00Z, a Thursday: the start of the checks' data.
    public static let t0: Int64 = 1_767_225_600

    static let day: Int64 = 86_400
    static let accounts = ["acme", "beta", "o'neil"]
    static let regions = ["eu", "us", "ap-south", "zürich"]
    static let methods = ["GET", "PUT", "x'); --"]
    static let classes = ["hot", "cold"]
    /// 2^53 + 1: a sum routed through a `Double` loses its last bit.
    static let beyondDouble: Int64 = 9_007_199_254_740_993

    /// A range covering every event the generators make, aligned to every tier.
    static let everything = (from: t0 - 2 * day, to: t0 + 5 * day)

    /// One `api` event.
    static func api(
        _ time: Int64, _ account: String = "acme", region: String = "eu", method: String = "GET",
        metrics: [Int64] = [1, 100, 1_000], id: String? = nil, source: String? = nil
    ) -> UsageEvent {
        UsageEvent(id: id, source: source, time: time, account: account, product: "api", dimensions: [region, method], metrics: metrics)
    }

    /// Deterministic events over both products, three days from `t0 - 1h`; no ids.
    /// `big` puts 2^53 + 1 in the `cost` of every 37th event.
    static func sampleEvents(count: Int, seed: UInt64, big: Bool = true) -> [UsageEvent] {
        var rng = SeededRandom(seed: seed)
        var out: [UsageEvent] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let time = t0 - 3_600 + Int64(rng.next() % UInt64(3 * day + 3_600))
            let account = accounts[Int(rng.next() % UInt64(accounts.count))]
            if rng.next() % 4 == 0 {
                out.append(UsageEvent(
                    time: time, account: account, product: "storage",
                    dimensions: [classes[Int(rng.next() % 2)]],
                    metrics: [Int64(rng.next() % 1_000_000_000_000)]))
            } else {
                let cost = big && i % 37 == 0 ? beyondDouble : Int64(rng.next() % 1_000_000)
                out.append(UsageEvent(
                    time: time, account: account, product: "api",
                    dimensions: [regions[Int(rng.next() % UInt64(regions.count))], methods[Int(rng.next() % UInt64(methods.count))]],
                    metrics: [Int64(1 + rng.next() % 5), Int64(rng.next() % 10_000_000_000), cost]))
            }
        }
        return out
    }

    /// A query over `everything` for all sample accounts.
    static func query(
        _ product: String = "api", tier: Tier, accounts: [String] = accounts, from: Int64 = everything.from, to: Int64 = everything.to,
        byAccount: Bool = false, groupBy: [Int] = [], filters: [Int: [String]] = [:]
    ) -> StoreQuery {
        StoreQuery(accounts: accounts, product: product, tier: tier, from: from, to: to, groupByAccount: byAccount, groupBy: groupBy, filters: filters)
    }
}

/// The answer a correct store gives, computed from the raw events with no store code involved.
///
/// Accounts and dimension values are opaque: two strings are one only when their Unicode
/// scalars are identical (Swift's `==` would also merge canonically equivalent spellings), and
/// rows are ordered by scalar values, which is also UTF-8 byte order.
enum Reference {
    static func rows(_ events: [UsageEvent], _ q: StoreQuery) -> [StoreRow] {
        struct Key: Hashable {
            var bucket: Int64
            var account: Scalars?
            var groups: [Scalars]
        }
        let accounts = Set(q.accounts.map(Scalars.init))
        let filters = q.filters.mapValues { Set($0.map(Scalars.init)) }
        var sums: [Key: (row: StoreRow, metrics: [Int64])] = [:]
        for e in events where e.product == q.product && accounts.contains(Scalars(e.account)) {
            let bucket = bucketStart(e.time, q.tier.seconds)
            guard bucket >= q.from, bucket < q.to else { continue }
            guard filters.allSatisfy({ $0.value.contains(Scalars(e.dimensions[$0.key])) }) else { continue }
            let groups = q.groupBy.map { e.dimensions[$0] }
            let key = Key(bucket: bucket, account: q.groupByAccount ? Scalars(e.account) : nil, groups: groups.map(Scalars.init))
            var entry = sums[key] ?? (
                StoreRow(bucket: bucket, account: q.groupByAccount ? e.account : nil, groups: groups, metrics: []),
                Array(repeating: 0, count: e.metrics.count))
            for i in entry.metrics.indices { entry.metrics[i] += e.metrics[i] }  // fixtures never overflow: trapping is right here
            sums[key] = entry
        }
        return sums.values.map { v in
            var row = v.row
            row.metrics = v.metrics
            return row
        }.sorted(by: inOrder)
    }

    /// Start of the bucket of `seconds` holding `time`, flooring negative times too.
    static func bucketStart(_ time: Int64, _ seconds: Int64) -> Int64 {
        var q = time / seconds
        if time % seconds != 0 && time < 0 { q -= 1 }
        return q * seconds
    }

    /// The documented row order: bucket, then account, then group values, by Unicode scalar values.
    static func inOrder(_ a: StoreRow, _ b: StoreRow) -> Bool {
        if a.bucket != b.bucket { return a.bucket < b.bucket }
        let (x, y) = (Scalars(a.account ?? ""), Scalars(b.account ?? ""))
        if x != y { return x < y }
        return a.groups.map(Scalars.init).lexicographicallyPrecedes(b.groups.map(Scalars.init))
    }

    /// Column sums over all rows.
    static func totals(_ rows: [StoreRow]) -> [Int64] {
        rows.reduce(into: [Int64]()) { acc, r in
            if acc.isEmpty { acc = Array(repeating: 0, count: r.metrics.count) }
            for i in r.metrics.indices where i < acc.count { acc[i] += r.metrics[i] }
        }
    }

    /// Rows with every string as its scalar values, for comparisons `==` on `String` would blur.
    static func exact(_ rows: [StoreRow]) -> [ExactRow] {
        rows.map { ExactRow(bucket: $0.bucket, account: $0.account.map(Scalars.init), groups: $0.groups.map(Scalars.init), metrics: $0.metrics) }
    }
}

/// A string compared by its Unicode scalar values, not by canonical equivalence.
struct Scalars: Hashable, Comparable, CustomStringConvertible {
    var values: [UInt32]
    init(_ s: String) { values = s.unicodeScalars.map(\.value) }
    static func < (a: Scalars, b: Scalars) -> Bool { a.values.lexicographicallyPrecedes(b.values) }
    var description: String { values.map { $0 < 0x80 ? String(UnicodeScalar(UInt8($0))) : "U+" + String($0, radix: 16, uppercase: true) }.joined() }
}

struct ExactRow: Equatable, CustomStringConvertible {
    var bucket: Int64
    var account: Scalars?
    var groups: [Scalars]
    var metrics: [Int64]
    var description: String { "(\(bucket), \(account.map(\.description) ?? "-"), \(groups), \(metrics))" }
}

