import TallyCore
import TallyStore

/// How a query is answered: its bucket boundaries and the tier read for them.
public struct ReportPlan: Sendable, Equatable {
    public var boundaries: [Int64]
    public var tier: Tier
    /// The coarsest tier whose buckets tile every report bucket exactly.
    public static func tier(for boundaries: [Int64]) -> Tier {
        for tier in Tier.allCases.reversed() where boundaries.allSatisfy({ floorMod($0, tier.seconds) == 0 }) {
            return tier
        }
        return .quarterHour
    }

    init(boundaries: [Int64], tier: Tier) {
        self.boundaries = boundaries
        self.tier = tier
    }

    public init(query: ReportQuery) {
        boundaries = BucketCutter(bucket: query.bucket, zone: query.zone, weekStart: query.weekStart).boundaries(from: query.from, to: query.to)
        tier = ReportPlan.tier(for: boundaries)
    }

    /// A line for humans (`tally report --explain`, the `plan` field of native JSON).
    public var summary: String {
        "\(boundaries.count - 1) bucket(s), read from the \(tier.label) tier"
    }
}

extension Tier {
    public var label: String {
        switch self {
        case .quarterHour: return "15m"
        case .hour: return "hour"
        case .day: return "day"
        }
    }
}

/// The answer to a report query.
public struct ReportResult: Sendable {
    public var query: ReportQuery
    public var metrics: [MetricSpec]
    public var rows: [ReportRow]
    public var plan: ReportPlan
    /// Buckets ending at or before this instant are complete; later ones may still grow.
    public var completeUntil: Int64
    /// Rows that remain after this page, when the engine was asked for a page.
    public var nextCursor: ReportCursor?
}

/// Where the next page of a report resumes.
public enum ReportCursor: Sendable, Equatable {
    /// Resume at the bucket starting at `start`, skipping `skip` rows of it (default order).
    case bucket(start: Int64, skip: Int)
    /// Resume at a row offset (custom sort orders, which are materialized).
    case offset(Int)

    public var token: String {
        switch self {
        case .bucket(let s, let k): return "b\(s)_\(k)"
        case .offset(let o): return "o\(o)"
        }
    }

    public init?(token: String) {
        if token.hasPrefix("o"), let o = Int(token.dropFirst()), o >= 0 {
            self = .offset(o)
            return
        }
        let parts = token.dropFirst().split(separator: "_")
        guard token.hasPrefix("b"), parts.count == 2, let s = Int64(parts[0]), let k = Int(parts[1]), k >= 0 else { return nil }
        self = .bucket(start: s, skip: k)
    }
}

/// Plans a report over a store, folds tier aggregates into the zone's buckets, fills gaps and sorts.
///
/// Every face (native API, CLI, vendor dialects) goes through `run`/`stream`: none owns
/// aggregation or bucketing of its own.
public struct ReportEngine: Sendable {
    public let store: any UsageStore
    public let catalog: ProductCatalog
    let now: @Sendable () -> Int64

    /// Report buckets read from the store per round trip when streaming, at most.
    static let slice = 512
    /// Rows a slice should hold, about: a grouped report starts with `firstGroupedSlice` buckets,
    /// then sizes each slice from the rows per bucket of the last one read, so a dense report
    /// (a thousand hostnames per 15 minutes) streams in small slices and a sparse one in wide ones.
    static let sliceRows = 16_384
    static let firstGroupedSlice = 32

    /// The width of the first slice: without grouping a bucket has one row at most.
    static func firstSlice(_ q: ReportQuery) -> Int { q.groupBy.isEmpty && !q.groupByAccount ? slice : firstGroupedSlice }

    /// The width of the next slice after one of `buckets` buckets gave `rows` rows.
    static func nextSlice(buckets: Int, rows: Int) -> Int { max(1, min(slice, sliceRows * buckets / max(rows, 1))) }

    public init(store: any UsageStore, catalog: ProductCatalog, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.catalog = catalog
        self.now = now
    }

    /// Runs a query, materializing its rows (or one page of them when `limit` is given).
    public func run(_ query: ReportQuery, cursor: ReportCursor? = nil, limit: Int? = nil) async throws -> ReportResult {
        let spec = try validated(query)
        let plan = ReportPlan(query: query)
        var rows: [ReportRow] = []
        var next: ReportCursor?
        if query.sort.isEmpty {
            var start = query.from
            var skip = 0
            if case .bucket(let s, let k)? = cursor, s >= query.from, s < query.to {
                start = s
                skip = k
            }
            // Rows of the current bucket already handed out, on this page or earlier ones.
            var bucketStart = start
            var doneInBucket = 0
            try await stream(query, spec: spec, plan: plan, startingAt: start) { chunk in
                for row in chunk {
                    if row.start != bucketStart {
                        bucketStart = row.start
                        doneInBucket = 0
                    }
                    if doneInBucket < skip && row.start == start {
                        doneInBucket += 1
                        continue
                    }
                    if let limit, rows.count == limit {
                        next = .bucket(start: row.start, skip: doneInBucket)
                        return false
                    }
                    rows.append(row)
                    doneInBucket += 1
                }
                return true
            }
        } else {
            try await stream(query, spec: spec, plan: plan, startingAt: query.from) { chunk in
                rows.append(contentsOf: chunk)
                return true
            }
            rows.sort(by: comparator(query, spec: spec))
            if let limit {
                var offset = 0
                if case .offset(let o)? = cursor { offset = min(o, rows.count) }
                let end = min(rows.count, offset + limit)
                if end < rows.count { next = .offset(end) }
                rows = Array(rows[offset..<end])
            }
        }
        return ReportResult(query: query, metrics: selectedMetrics(query, spec), rows: rows, plan: plan, completeUntil: completeUntil(query), nextCursor: next)
    }

    /// Streams rows in default order, a slice of buckets at a time, so large reports never sit in memory.
    /// `body` returns false to stop early.
    /// `plan` is the query's own plan when the caller has it already (from `describe`): a plan
    /// holds every bucket boundary, which is worth computing and keeping once.
    public func stream(_ query: ReportQuery, plan known: ReportPlan? = nil, _ body: ([ReportRow]) async throws -> Bool) async throws -> ReportResult {
        let spec = try validated(query)
        let plan = known ?? ReportPlan(query: query)
        if query.sort.isEmpty {
            try await stream(query, spec: spec, plan: plan, startingAt: query.from, body)
        } else {
            let all = try await run(query)
            _ = try await body(all.rows)
        }
        return ReportResult(query: query, metrics: selectedMetrics(query, spec), rows: [], plan: plan, completeUntil: completeUntil(query), nextCursor: nil)
    }

    /// The result's shape without its rows: validated metrics, plan and completeness.
    public func describe(_ query: ReportQuery) throws(ReportError) -> ReportResult {
        let spec = try validated(query)
        return ReportResult(query: query, metrics: selectedMetrics(query, spec), rows: [], plan: ReportPlan(query: query), completeUntil: completeUntil(query), nextCursor: nil)
    }

    public func validated(_ query: ReportQuery) throws(ReportError) -> ProductSpec {
        let problems = query.validate(catalog: catalog)
        guard problems.isEmpty, let spec = catalog[query.product] else { throw ReportError(problems: problems) }
        return spec
    }

    func completeUntil(_ q: ReportQuery) -> Int64 { min(q.to, max(q.from, now())) }

    func selectedMetrics(_ q: ReportQuery, _ spec: ProductSpec) -> [MetricSpec] {
        q.metrics.isEmpty ? spec.metrics : q.metrics.compactMap { m in spec.metrics.first { $0.name == m } }
    }

    /// The store queries a report runs, one per slice of buckets (for explaining a plan): the
    /// first at its actual width, the rest at the widest (slices of grouped reports adapt to the rows found).
    public func storeQueries(_ query: ReportQuery) throws -> [StoreQuery] {
        let spec = try validated(query)
        let plan = ReportPlan(query: query)
        let last = plan.boundaries.count - 1
        var firsts = [0]
        while let f = firsts.last, f + (f == 0 ? ReportEngine.firstSlice(query) : ReportEngine.slice) < last {
            firsts.append(f + (f == 0 ? ReportEngine.firstSlice(query) : ReportEngine.slice))
        }
        return zip(firsts, firsts.dropFirst() + [last]).map { first, end in
            storeQuery(query, spec: spec, plan: plan, from: plan.boundaries[first], to: plan.boundaries[end])
        }
    }

    func storeQuery(_ query: ReportQuery, spec: ProductSpec, plan: ReportPlan, from: Int64, to: Int64) -> StoreQuery {
        var filters: [Int: [String]] = [:]
        for (k, v) in query.filters { if let i = spec.dimensionIndex(k) { filters[i] = v } }
        return StoreQuery(accounts: query.accounts, product: query.product, tier: plan.tier, from: from, to: to,
                          groupByAccount: query.groupByAccount, groupBy: query.groupBy.compactMap { spec.dimensionIndex($0) }, filters: filters)
    }

    private func stream(_ asked: ReportQuery, spec: ProductSpec, plan: ReportPlan, startingAt: Int64, _ body: ([ReportRow]) async throws -> Bool) async throws {
        let query = try await resolvingExclusions(asked)
        // No account, or a filter no value passes: nothing to read (an empty `IN ()` is not portable SQL).
        let matchesNothing = query.accounts.isEmpty || query.filters.values.contains { $0.isEmpty }
        let b = plan.boundaries
        let metricIndexes = selectedMetrics(query, spec).compactMap { m in spec.metricIndex(m.name) }
        let fill = query.fillGaps && query.groupBy.isEmpty && !query.groupByAccount
        var first = 0
        while first + 1 < b.count && b[first + 1] <= startingAt { first += 1 }
        if matchesNothing && !fill { return }
        // More than one slice to read without gap filling: read only slices on days with usage.
        let busyDays = !fill && b.count - 1 - first > ReportEngine.slice ? try await usedDays(query, spec: spec, plan: plan, from: b[first], to: b[b.count - 1]) : nil
        var width = ReportEngine.firstSlice(query)
        while first + 1 < b.count {
            let last = min(b.count - 1, first + width)
            if let busyDays, !ReportEngine.anyDay(busyDays, overlaps: b[first], b[last]) {
                first = last
                continue
            }
            let sq = storeQuery(query, spec: spec, plan: plan, from: b[first], to: b[last])
            let stored = matchesNothing ? [] : try await store.aggregate(sq)
            let direct = ReportEngine.directRows(stored, b, from: first, to: last, tier: plan.tier, metrics: metricIndexes, fill: fill)
            let rows = try direct ?? ReportEngine.summedRows(stored, b, from: first, to: last, metrics: metricIndexes, fill: fill)
            width = ReportEngine.nextSlice(buckets: last - first, rows: rows.count)
            if !rows.isEmpty, try await !body(rows) { return }
            first = last
        }
    }

    /// The store's rows as report rows, neither summed again nor sorted again, when that changes
    /// nothing: every report bucket is one tier bucket and the rows already come in strictly
    /// increasing report order (so no two share a key). Nil otherwise.
    ///
    /// The common report (days read from the day tier) then costs one pass over the rows.
    /// With `fill` (no grouping, so a row per bucket at most) empty buckets get zero rows.
    static func directRows(_ stored: [StoreRow], _ b: [Int64], from lo: Int, to hi: Int, tier: Tier, metrics: [Int], fill: Bool) -> [ReportRow]? {
        let inOrder = metrics == Array(0..<metrics.count)
        var out: [ReportRow] = []
        out.reserveCapacity(fill ? hi - lo : stored.count)
        let zeros = [Int64](repeating: 0, count: metrics.count)
        var i = lo
        var filled = lo  // buckets before this one have their row
        func fillUp(to end: Int) {
            while filled < end {
                out.append(ReportRow(start: b[filled], end: b[filled + 1], groups: [], values: zeros))
                filled += 1
            }
        }
        for n in stored.indices {
            let r = stored[n]
            while i < hi && b[i + 1] <= r.bucket { i += 1 }
            guard i < hi, b[i] == r.bucket, b[i + 1] - b[i] == tier.seconds else { return nil }
            if fill {
                guard r.account == nil, r.groups.isEmpty, i >= filled else { return nil }
                fillUp(to: i)
                filled = i + 1
            }
            if n > 0 {
                let p = stored[n - 1]
                guard p.bucket < r.bucket || (p.bucket == r.bucket && precedes(p.account, p.groups, r.account, r.groups)) else { return nil }
            }
            out.append(ReportRow(start: b[i], end: b[i + 1], account: r.account, groups: r.groups, values: inOrder && r.metrics.count == metrics.count ? r.metrics : metrics.map { r.metrics[$0] }))
        }
        if fill { fillUp(to: hi) }
        return out
    }

    /// The store's rows summed into report buckets (with zero rows for empty buckets when
    /// filling gaps), in default order.
    static func summedRows(_ stored: [StoreRow], _ b: [Int64], from first: Int, to last: Int, metrics: [Int], fill: Bool) throws -> [ReportRow] {
        struct Key: Hashable { var bucket: Int; var account: String?; var groups: [String] }
        var sums: [Key: [Int64]] = [:]
        for r in stored {
            let idx = ReportEngine.bucketIndex(of: r.bucket, in: b, from: first, to: last)
            let k = Key(bucket: idx, account: r.account, groups: r.groups)
            try sums.addExactly(metrics.map { r.metrics[$0] }, at: k)
        }
        if fill {
            for i in first..<last where sums[Key(bucket: i, account: nil, groups: [])] == nil {
                sums[Key(bucket: i, account: nil, groups: [])] = [Int64](repeating: 0, count: metrics.count)
            }
        }
        return sums.map { ReportRow(start: b[$0.key.bucket], end: b[$0.key.bucket + 1], account: $0.key.account, groups: $0.key.groups, values: $0.value) }
            .sorted(by: ReportEngine.defaultOrder)
    }

    /// The report bucket holding a tier bucket that starts at `t`.
    static func bucketIndex(of t: Int64, in b: [Int64], from lo0: Int, to hi0: Int) -> Int {
        var lo = lo0, hi = hi0  // b[lo] <= t < b[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if b[mid] <= t { lo = mid } else { hi = mid }
        }
        return lo
    }

    static func defaultOrder(_ a: ReportRow, _ b: ReportRow) -> Bool {
        if a.start != b.start { return a.start < b.start }
        return precedes(a.account, a.groups, b.account, b.groups)
    }

    /// The default order within one bucket: account, then group values.
    static func precedes(_ a: String?, _ ag: [String], _ b: String?, _ bg: [String]) -> Bool {
        if a != b { return (a ?? "") < (b ?? "") }
        return ag.lexicographicallyPrecedes(bg)
    }

    func comparator(_ q: ReportQuery, spec: ProductSpec) -> (ReportRow, ReportRow) -> Bool {
        let metricNames = selectedMetrics(q, spec).map(\.name)
        return { a, b in
            for s in q.sort {
                let order: Bool?
                if s.field == "start" {
                    order = a.start == b.start ? nil : a.start < b.start
                } else if s.field == "account" {
                    order = a.account == b.account ? nil : (a.account ?? "") < (b.account ?? "")
                } else if let g = q.groupBy.firstIndex(of: s.field) {
                    order = a.groups[g] == b.groups[g] ? nil : a.groups[g] < b.groups[g]
                } else if let m = metricNames.firstIndex(of: s.field) {
                    order = a.values[m] == b.values[m] ? nil : a.values[m] < b.values[m]
                } else {
                    order = nil
                }
                if let order { return s.descending ? !order : order }
            }
            return ReportEngine.defaultOrder(a, b)
        }
    }
}

/// A query that cannot run, with every problem found.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    public var problems: [QueryProblem]
    public var description: String { problems.map(\.description).joined(separator: "; ") }
}
