import TallyCore
import TallyStore

extension ReportEngine {
    /// The starts of the UTC days in `[from, to)` (widened to whole days) that hold any usage of
    /// the query's accounts and filters, ascending: one read of the day tier.
    ///
    /// A long, sparse range (an unbounded Proxy-Seller request is decades of hours) then skips
    /// every slice of buckets without usage instead of reading each one.
    func usedDays(_ query: ReportQuery, spec: ProductSpec, plan: ReportPlan, from: Int64, to: Int64) async throws -> [Int64] {
        var probe = storeQuery(query, spec: spec, plan: plan, from: floorDiv(from, Tier.day.seconds) * Tier.day.seconds,
                               to: floorDiv(to + Tier.day.seconds - 1, Tier.day.seconds) * Tier.day.seconds)
        probe.tier = .day
        probe.groupBy = []
        probe.groupByAccount = false
        return Array(Set(try await store.aggregate(probe).map(\.bucket))).sorted()
    }

    /// The starts of the UTC days in `[query.from, query.to)` (widened to whole days) that hold
    /// any usage of the query's accounts and filters, ascending.
    ///
    /// A face whose range is unbounded by default (Proxy-Seller's missing `date_start`) starts
    /// at the first of them instead of planning decades of empty buckets.
    public func usedDays(_ query: ReportQuery) async throws -> [Int64] {
        let spec = try validated(query)
        return try await usedDays(query, spec: spec, plan: ReportPlan(boundaries: [], tier: .day), from: query.from, to: query.to)
    }

    /// Whether any of the sorted day starts `days` overlaps `[from, to)`.
    static func anyDay(_ days: [Int64], overlaps from: Int64, _ to: Int64) -> Bool {
        var lo = 0, hi = days.count  // first day ending after `from`
        while lo < hi {
            let mid = (lo + hi) / 2
            if days[mid] + Tier.day.seconds <= from { lo = mid + 1 } else { hi = mid }
        }
        return lo < days.count && days[lo] < to
    }
}
