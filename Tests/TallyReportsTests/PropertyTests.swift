import Foundation
import Testing
import TallyStore

@testable import TallyCore

@testable import TallyReports


/// Epoch seconds of an RFC 3339 literal, computed with Foundation (not Tally's parser).
func utc(_ text: String) -> Int64 {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    guard let d = f.date(from: text) else { fatalError("bad literal \(text)") }
    return Int64(d.timeIntervalSince1970)
}

/// The zone of an exact IANA name. `Zone(named:)` misses Asia/Kolkata on Linux (a bug shown in
/// TallyCoreTests' `kolkataByName`), so this falls back to Foundation's `TimeZone` for it.
func testZone(_ name: String) -> Zone {
    if let z = Zone(named: name) { return z }
    return Zone(identifier: name, timeZone: TimeZone(identifier: name)!)
}

enum Fixture {
    static let countries = ["au", "de", "in", "np", "us"]
    static let protocols = ["http", "https", "socks"]
    static let accounts = ["a1", "a2", "a3"]

    static let catalog = ProductCatalog([
        ProductSpec(name: "proxy", dimensions: ["country", "protocol"], metrics: [
            MetricSpec(name: "bytes", kind: .integer),
            MetricSpec(name: "cost", kind: .decimal(scale: 6)),
            MetricSpec(name: "requests", kind: .integer),
        ]),
        ProductSpec(name: "other", dimensions: ["country", "protocol"], metrics: [MetricSpec(name: "n", kind: .integer)]),
    ])

    /// Two windows of about three months, each holding two of 2025's DST changes.
    struct Window: Sendable {
        var from: Int64
        var to: Int64
        var transitions: [Int64]
    }

    static let windows = [
        Window(from: utc("2025-02-20T00:00:00Z"), to: utc("2025-05-20T00:00:00Z"), transitions: [
            utc("2025-03-09T07:00:00Z"),  // New York spring-forward
            utc("2025-04-05T15:00:00Z"),  // Lord Howe fall-back
        ]),
        Window(from: utc("2025-09-10T00:00:00Z"), to: utc("2025-12-10T00:00:00Z"), transitions: [
            utc("2025-10-04T15:30:00Z"),  // Lord Howe spring-forward
            utc("2025-11-02T06:00:00Z"),  // New York fall-back
        ]),
    ]

    static func event(_ rng: inout SeededRandom, at t: Int64) -> UsageEvent {
        let product = rng.below(20) == 0 ? "other" : "proxy"
        return UsageEvent(
            time: t, account: rng.pick(accounts), product: product,
            dimensions: [rng.pick(countries), rng.pick(protocols)],
            metrics: product == "other" ? [1] : [rng.below(Int64(2_000_000_000)), rng.below(Int64(50_000_000)), Int64(1 + rng.below(5))])
    }

    /// Per window: uniform events over it, plus dense clusters around each transition.
    static let events: [[UsageEvent]] = windows.enumerated().map { i, w in
        var rng = SeededRandom(seed: 20_251_102 + UInt64(i))
        var out: [UsageEvent] = []
        for _ in 0..<400 { out.append(event(&rng, at: w.from + rng.below(w.to - w.from))) }
        for t in w.transitions {
            for _ in 0..<200 { out.append(event(&rng, at: t - 36 * 3600 + rng.below(Int64(72 * 3600)))) }
            // Events right at the edges of the transition.
            for d: Int64 in [-1, 0, 1, -1800, 1799, 1800, -3600, 3599] { out.append(event(&rng, at: t + d)) }
        }
        return out
    }

    static func store(_ events: [UsageEvent]) async throws -> MemoryUsageStore {
        let store = MemoryUsageStore()
        try await store.prepare(products: catalog)
        var i = 0
        while i < events.count {  // several batches
            let batch = Array(events[i..<min(events.count, i + 1000)])
            let receipt = try await store.commit(IngestBatch(events: batch, receivedAt: utc("2025-12-31T00:00:00Z")), dedupWindow: 86400)
            #expect(receipt.accepted == batch.count)
            i += 1000
        }
        return store
    }

    static func engine(_ store: any UsageStore) -> ReportEngine {
        ReportEngine(store: store, catalog: catalog, now: { utc("2030-01-01T00:00:00Z") })
    }
}

/// An independent implementation of spec/time.md's buckets on Foundation's `Calendar`.
///
/// A boundary is every instant at which the zone's wall clock shows the exact start of a
/// period, or enters a new period without having shown its start. Every boundary falls on
/// a UTC quarter hour, so every quarter hour of the range is examined: the wall clock just
/// before it and at it, read with `Calendar.dateComponents` in the zone.
struct CalendarOracle {
    struct Wall: Equatable {
        var year, month, day, hour, minute, second, weekday: Int  // weekday: 1 = Sunday ... 7 = Saturday
        var date: [Int] { [year, month, day] }
        var isMidnight: Bool { hour == 0 && minute == 0 && second == 0 }
    }

    let calendar: Calendar
    let from: Int64
    let to: Int64
    /// For each quarter hour `q` strictly inside the range: the wall clock at `q - 1` and at `q`.
    let quarters: [(q: Int64, before: Wall, at: Wall)]
    private let utcCalendar: Calendar

    init(zone: String, from: Int64, to: Int64) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: zone)!
        calendar = cal
        var u = Calendar(identifier: .gregorian)
        u.timeZone = TimeZone(identifier: "UTC")!
        utcCalendar = u
        self.from = from
        self.to = to
        func wall(_ t: Int64) -> Wall {
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: Date(timeIntervalSince1970: TimeInterval(t)))
            return Wall(year: c.year!, month: c.month!, day: c.day!, hour: c.hour!, minute: c.minute!, second: c.second!, weekday: c.weekday!)
        }
        var qs: [(Int64, Wall, Wall)] = []
        var q = (from / 900 + 1) * 900
        while q < to {
            qs.append((q, wall(q - 1), wall(q)))
            q += 900
        }
        quarters = qs
    }

    /// The first date of the week holding `w`'s date (Calendar date arithmetic).
    func weekKey(_ w: Wall, firstWeekday: Int) -> [Int] {
        let back = (w.weekday - firstWeekday + 7) % 7
        let noon = utcCalendar.date(from: DateComponents(year: w.year, month: w.month, day: w.day, hour: 12))!
        let start = utcCalendar.date(byAdding: .day, value: -back, to: noon)!
        let c = utcCalendar.dateComponents([.year, .month, .day], from: start)
        return [c.year!, c.month!, c.day!]
    }

    /// Boundaries of `[from, to)`: `from`, every boundary strictly inside, `to`.
    /// `weekStart` is ISO (1 = Monday ... 7 = Sunday).
    func boundaries(_ bucket: Bucket, weekStart: Int) -> [Int64] {
        if bucket == .total { return [from, to] }
        let firstWeekday = weekStart % 7 + 1  // Calendar numbering: 1 = Sunday
        var out = [from]
        for (q, before, at) in quarters {
            let isBoundary: Bool
            switch bucket {
            case .quarterHour:
                isBoundary = (at.minute % 15 == 0 && at.second == 0)
                    || [before.year, before.month, before.day, before.hour, before.minute / 15] != [at.year, at.month, at.day, at.hour, at.minute / 15]
            case .hour:
                isBoundary = (at.minute == 0 && at.second == 0) || before.date + [before.hour] != at.date + [at.hour]
            case .day:
                isBoundary = at.isMidnight || before.date != at.date
            case .week:
                // A week key can only change where the date does.
                isBoundary = (at.isMidnight && at.weekday == firstWeekday)
                    || (before.date != at.date && weekKey(before, firstWeekday: firstWeekday) != weekKey(at, firstWeekday: firstWeekday))
            case .month:
                isBoundary = (at.isMidnight && at.day == 1) || [before.year, before.month] != [at.year, at.month]
            case .total:
                isBoundary = false
            }
            if isBoundary { out.append(q) }
        }
        out.append(to)
        return out
    }

    /// The index of the bucket holding `t` (the last boundary at or before it).
    static func bucketIndex(_ t: Int64, _ b: [Int64]) -> Int {
        var lo = 0, hi = b.count - 1  // b[lo] <= t < b[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if b[mid] <= t { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// The rows a report must return, computed from raw events, in default order.
    static func rows(events: [UsageEvent], query: ReportQuery, boundaries b: [Int64]) -> [ReportRow] {
        let spec = Fixture.catalog[query.product]!
        let metricIndexes = (query.metrics.isEmpty ? spec.metrics.map(\.name) : query.metrics).map { spec.metricIndex($0)! }
        let groupIndexes = query.groupBy.map { spec.dimensionIndex($0)! }
        let filters = query.filters.map { (spec.dimensionIndex($0.key)!, Set($0.value)) }
        let accounts = Set(query.accounts)
        struct Key: Hashable { var bucket: Int; var account: String?; var groups: [String] }
        var sums: [Key: [Int64]] = [:]
        for e in events where e.product == query.product && accounts.contains(e.account) && e.time >= query.from && e.time < query.to {
            guard filters.allSatisfy({ $0.1.contains(e.dimensions[$0.0]) }) else { continue }
            let k = Key(bucket: bucketIndex(e.time, b), account: query.groupByAccount ? e.account : nil, groups: groupIndexes.map { e.dimensions[$0] })
            let v = metricIndexes.map { e.metrics[$0] }
            if let s = sums[k] { sums[k] = zip(s, v).map { $0 + $1 } } else { sums[k] = v }
        }
        return sums.map { ReportRow(start: b[$0.key.bucket], end: b[$0.key.bucket + 1], account: $0.key.account, groups: $0.key.groups, values: $0.value) }
            .sorted { a, c in
                if a.start != c.start { return a.start < c.start }
                if a.account != c.account { return (a.account ?? "") < (c.account ?? "") }
                return a.groups.lexicographicallyPrecedes(c.groups)
            }
    }
}

/// Records the first differences between two row lists, with readable instants.
func compareRows(_ actual: [ReportRow], _ expected: [ReportRow], zone: Zone, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual != expected else { return }
    func show(_ r: ReportRow) -> String {
        "\(RFC3339.format(r.start, in: zone))..\(RFC3339.format(r.end, in: zone)) \(r.account ?? "-") \(r.groups) \(r.values)"
    }
    var lines = ["\(context): \(actual.count) rows, expected \(expected.count)"]
    var shown = 0
    for i in 0..<max(actual.count, expected.count) where shown < 5 {
        let a = i < actual.count ? actual[i] : nil
        let e = i < expected.count ? expected[i] : nil
        if a != e {
            lines.append("  row \(i): got \(a.map(show) ?? "nothing"), expected \(e.map(show) ?? "nothing")")
            shown += 1
        }
    }
    Issue.record(Comment(rawValue: lines.joined(separator: "\n")), sourceLocation: sourceLocation)
}

@Suite("Report properties")
struct PropertyTests {
    static let zones = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]

    /// Bucket and ISO week start, over whole ranges.
    static let buckets: [(Bucket, Int)] = [(.hour, 1), (.day, 1), (.week, 1), (.week, 7), (.month, 1), (.total, 1)]

    /// The range queried in each window: the first aligned on UTC days, the second cut at odd quarter hours.
    static let ranges: [(Int64, Int64)] = [
        (utc("2025-02-20T00:00:00Z"), utc("2025-05-20T00:00:00Z")),
        (utc("2025-09-17T05:15:00Z"), utc("2025-12-06T19:45:00Z")),
    ]

    /// Query shapes: accounts, account split, group-by, filters, metric selection.
    static func shapes(from: Int64, to: Int64) -> [ReportQuery] {
        let a = ReportQuery(accounts: ["a1", "a2"], product: "proxy", from: from, to: to)
        var b = ReportQuery(accounts: ["a1", "a2", "a3"], product: "proxy", from: from, to: to)
        b.groupByAccount = true
        b.groupBy = ["country"]
        var c = ReportQuery(accounts: ["a3", "a1"], product: "proxy", from: from, to: to)
        c.groupBy = ["protocol", "country"]
        c.filters = ["country": ["us", "de", "np"], "protocol": ["https", "socks"]]
        c.metrics = ["cost", "bytes"]
        return [a, b, c]
    }

    /// For every zone, bucket, range and query shape, the engine's rows equal the totals
    /// computed naively from the raw events with the Calendar oracle.
    @Test(arguments: PropertyTests.zones)
    func engineMatchesCalendarOracle(zoneName: String) async throws {
        let zone = testZone(zoneName)
        var checkedRows = 0
        for (w, window) in Fixture.windows.enumerated() {
            let events = Fixture.events[w]
            let engine = Fixture.engine(try await Fixture.store(events))
            let (from, to) = PropertyTests.ranges[w]
            // Whole range for hour and coarser; 15 minutes over ten days around each transition.
            var runs: [(Bucket, Int, CalendarOracle)] = []
            let oracle = CalendarOracle(zone: zoneName, from: from, to: to)
            for (bucket, ws) in PropertyTests.buckets { runs.append((bucket, ws, oracle)) }
            for t in window.transitions {
                runs.append((.quarterHour, 1, CalendarOracle(zone: zoneName, from: t - 5 * 86400 + 2700, to: t + 5 * 86400 - 900)))
            }
            for (bucket, ws, oracle) in runs {
                let b = oracle.boundaries(bucket, weekStart: ws)
                for var q in PropertyTests.shapes(from: oracle.from, to: oracle.to) {
                    q.zone = zone
                    q.bucket = bucket
                    q.weekStart = WeekStart(isoWeekday: ws)!
                    let context = "\(zoneName) \(bucket.rawValue) week_start \(ws) \(RFC3339.format(q.from, in: .utc))..\(RFC3339.format(q.to, in: .utc)) accounts \(q.accounts) group_by \(q.groupBy)"
                    let plan = ReportPlan(query: q)
                    if plan.boundaries != b {
                        let extra = Set(plan.boundaries).subtracting(b).sorted().prefix(3).map { RFC3339.format($0, in: zone) }
                        let missing = Set(b).subtracting(plan.boundaries).sorted().prefix(3).map { RFC3339.format($0, in: zone) }
                        Issue.record("\(context): boundaries differ; engine extra \(extra), missing \(missing)")
                    }
                    // The tier read must tile every bucket.
                    #expect(b.allSatisfy { floorMod($0, plan.tier.seconds) == 0 }, "\(context)")
                    let result = try await engine.run(q)
                    let expected = CalendarOracle.rows(events: events, query: q, boundaries: b)
                    compareRows(result.rows, expected, zone: zone, context)
                    #expect(result.metrics.map(\.name) == (q.metrics.isEmpty ? Fixture.catalog[q.product]!.metrics.map(\.name) : q.metrics))
                    checkedRows += expected.count
                }
            }
        }
        #expect(checkedRows > 3000)
    }

    /// Another product's events, in the same store, never show up; its own report sums them.
    @Test func productsAreKeptApart() async throws {
        let events = Fixture.events[0]
        let engine = Fixture.engine(try await Fixture.store(events))
        let (from, to) = PropertyTests.ranges[0]
        var q = ReportQuery(accounts: ["a2", "a3"], product: "other", from: from, to: to)
        q.zone = testZone("America/New_York")
        q.bucket = .week
        q.filters = ["protocol": ["http"]]
        let b = CalendarOracle(zone: "America/New_York", from: from, to: to).boundaries(.week, weekStart: 1)
        let expected = CalendarOracle.rows(events: events, query: q, boundaries: b)
        #expect(expected.reduce(0) { $0 + $1.values[0] } > 5)
        compareRows(try await engine.run(q).rows, expected, zone: q.zone, "other product")
    }

    /// The oracle itself agrees with `Calendar.dateInterval(of:for:)` where Foundation's notion of
    /// hours, days, weeks and months is the spec's (zones whose offset changes by whole hours).
    @Test(arguments: ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"])
    func oracleAgreesWithCalendarIntervals(zoneName: String) {
        for (w, (from, to)) in PropertyTests.ranges.enumerated() {
            let events = Fixture.events[w]
            let oracle = CalendarOracle(zone: zoneName, from: from, to: to)
            let cases: [(Bucket, Int, Calendar.Component)] = [(.hour, 1, .hour), (.day, 1, .day), (.week, 1, .weekOfYear), (.week, 7, .weekOfYear), (.month, 1, .month)]
            for (bucket, ws, component) in cases {
                var cal = oracle.calendar
                cal.firstWeekday = ws % 7 + 1
                let b = oracle.boundaries(bucket, weekStart: ws)
                for e in events where e.time >= from && e.time < to {
                    let i = CalendarOracle.bucketIndex(e.time, b)
                    guard i > 0, i < b.count - 2 else { continue }  // first and last bucket are clipped
                    let interval = cal.dateInterval(of: component, for: Date(timeIntervalSince1970: TimeInterval(e.time)))!
                    if Int64(interval.start.timeIntervalSince1970) != b[i] || Int64(interval.end.timeIntervalSince1970) != b[i + 1] {
                        Issue.record("\(zoneName) \(bucket) \(e.time): oracle \(b[i])..\(b[i + 1]), Calendar \(interval)")
                        return
                    }
                }
            }
        }
    }

    struct TierCase: Sendable, CustomTestStringConvertible {
        var zone: String
        var bucket: Bucket
        var from: String
        var to: String
        var tier: Tier
        var testDescription: String { "\(zone) \(bucket.rawValue) \(from)..\(to)" }
    }

    @Test(arguments: [
        TierCase(zone: "UTC", bucket: .day, from: "2025-02-20T00:00:00Z", to: "2025-05-20T00:00:00Z", tier: .day),
        TierCase(zone: "UTC", bucket: .week, from: "2025-02-20T00:00:00Z", to: "2025-05-20T00:00:00Z", tier: .day),
        TierCase(zone: "UTC", bucket: .month, from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", tier: .day),
        TierCase(zone: "UTC", bucket: .total, from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", tier: .day),
        TierCase(zone: "UTC", bucket: .day, from: "2025-02-20T09:00:00Z", to: "2025-05-20T00:00:00Z", tier: .hour),
        TierCase(zone: "UTC", bucket: .day, from: "2025-02-20T09:45:00Z", to: "2025-05-20T00:00:00Z", tier: .quarterHour),
        TierCase(zone: "UTC", bucket: .hour, from: "2025-02-20T00:00:00Z", to: "2025-05-20T00:00:00Z", tier: .hour),
        TierCase(zone: "UTC", bucket: .quarterHour, from: "2025-02-20T00:00:00Z", to: "2025-02-21T00:00:00Z", tier: .quarterHour),
        TierCase(zone: "America/New_York", bucket: .day, from: "2025-02-20T05:00:00Z", to: "2025-05-20T04:00:00Z", tier: .hour),
        TierCase(zone: "America/New_York", bucket: .day, from: "2025-02-20T00:00:00Z", to: "2025-05-20T00:00:00Z", tier: .hour),
        TierCase(zone: "America/New_York", bucket: .month, from: "2025-01-01T05:00:00Z", to: "2026-01-01T05:00:00Z", tier: .hour),
        TierCase(zone: "America/New_York", bucket: .hour, from: "2025-01-01T05:00:00Z", to: "2026-01-01T05:00:00Z", tier: .hour),
        TierCase(zone: "Asia/Kolkata", bucket: .hour, from: "2025-02-20T00:00:00Z", to: "2025-02-21T00:00:00Z", tier: .quarterHour),
        TierCase(zone: "Asia/Kolkata", bucket: .day, from: "2025-02-19T18:30:00Z", to: "2025-02-21T18:30:00Z", tier: .quarterHour),
        TierCase(zone: "Asia/Kathmandu", bucket: .hour, from: "2025-02-20T00:15:00Z", to: "2025-02-21T00:15:00Z", tier: .quarterHour),
        TierCase(zone: "Australia/Lord_Howe", bucket: .day, from: "2025-01-01T00:00:00Z", to: "2025-12-01T00:00:00Z", tier: .quarterHour),
        TierCase(zone: "Australia/Lord_Howe", bucket: .hour, from: "2025-06-01T00:00:00Z", to: "2025-06-02T00:00:00Z", tier: .quarterHour),
    ])
    func tierChoice(_ c: TierCase) throws {
        var q = ReportQuery(accounts: ["a1"], product: "proxy", from: utc(c.from), to: utc(c.to))
        q.zone = testZone(c.zone)
        q.bucket = c.bucket
        #expect(ReportPlan(query: q).tier == c.tier)
    }

    /// A whole report read at the chosen tier equals the same report forced down to the
    /// 15-minute tier: each tier's aggregates are exact.
    @Test func tiersAgree() async throws {
        let store = try await Fixture.store(Fixture.events[0])
        for (zone, bucket) in [("UTC", Bucket.day), ("America/New_York", .day), ("UTC", .month), ("America/New_York", .hour)] {
            var q = ReportQuery(accounts: Fixture.accounts, product: "proxy", from: utc("2025-02-20T00:00:00Z"), to: utc("2025-05-20T00:00:00Z"))
            q.zone = testZone(zone)
            q.bucket = bucket
            let plan = ReportPlan(query: q)
            #expect(plan.tier != .quarterHour)
            for tier in [plan.tier, .quarterHour] {
                let rows = try await store.aggregate(StoreQuery(accounts: q.accounts, product: "proxy", tier: tier, from: q.from, to: q.to))
                var totals = [Int64](repeating: 0, count: 3)
                for r in rows { for i in 0..<3 { totals[i] += r.metrics[i] } }
                let expected = Fixture.events[0].filter { $0.product == "proxy" && $0.time >= q.from && $0.time < q.to }
                    .reduce(into: [Int64](repeating: 0, count: 3)) { acc, e in for i in 0..<3 { acc[i] += e.metrics[i] } }
                #expect(totals == expected, "\(tier)")
            }
        }
    }
}

@Suite("Report pagination")
struct PaginationTests {
    /// Events in a few busy New York hours over 30 days (720 hour buckets: more than one slice
    /// of 512), so that buckets hold many rows and pages end inside buckets and across slices.
    static let events: [UsageEvent] = {
        var rng = SeededRandom(seed: 7)
        let from = utc("2025-10-20T04:00:00Z")
        var hours = (0..<12).map { _ in Int64(rng.below(720)) }
        hours += [0, 311, 312, 511, 512, 513, 719]  // 311/312: the fall-back's two 01:00 hours
        var out: [UsageEvent] = []
        for h in hours {
            for _ in 0..<(3 + rng.below(9)) {
                out.append(Fixture.event(&rng, at: from + h * 3600 + rng.below(Int64(3600))))
            }
        }
        return out
    }()

    static func queries() -> [String: ReportQuery] {
        var base = ReportQuery(accounts: Fixture.accounts, product: "proxy", from: utc("2025-10-20T04:00:00Z"), to: utc("2025-11-19T05:00:00Z"))
        base.zone = testZone("America/New_York")
        base.bucket = .hour
        base.groupByAccount = true
        base.groupBy = ["country"]
        var bytesDesc = base
        bytesDesc.sort = [.init(field: "bytes", descending: true)]
        var countryThenCost = base
        countryThenCost.sort = [.init(field: "country"), .init(field: "cost", descending: true)]
        var requestsDesc = base  // many ties, broken by the default order
        requestsDesc.groupByAccount = false
        requestsDesc.groupBy = ["protocol"]
        requestsDesc.metrics = ["requests"]
        requestsDesc.sort = [.init(field: "requests", descending: true)]
        var quarter = base  // 15-minute buckets: 2,884 buckets, several slices
        quarter.bucket = .quarterHour
        var filled = base  // zero rows for empty buckets
        filled.groupByAccount = false
        filled.groupBy = []
        filled.fillGaps = true
        return ["default order": base, "bytes descending": bytesDesc, "country, cost descending": countryThenCost,
                "requests descending": requestsDesc, "15m default order": quarter, "filled gaps": filled]
    }

    @Test(arguments: [
        ("default order", 1), ("default order", 4), ("default order", 23), ("default order", 100_000),
        ("bytes descending", 1), ("bytes descending", 7), ("bytes descending", 100_000),
        ("country, cost descending", 3), ("country, cost descending", 100_000),
        ("requests descending", 2), ("requests descending", 100_000),
        ("15m default order", 1), ("15m default order", 5), ("15m default order", 100_000),
        ("filled gaps", 64), ("filled gaps", 719), ("filled gaps", 720), ("filled gaps", 100_000),
    ] as [(String, Int)])
    func pagesConcatenateToTheUnpagedRun(name: String, limit: Int) async throws {
        let engine = Fixture.engine(try await Fixture.store(PaginationTests.events))
        do {
            let q = try #require(PaginationTests.queries()[name])
            let full = try await engine.run(q)
            #expect(full.nextCursor == nil)
            #expect(full.rows.count > 40, "\(name)")
            var collected: [ReportRow] = []
            var cursor: ReportCursor? = nil
            var pages = 0
            repeat {
                let page = try await engine.run(q, cursor: cursor, limit: limit)
                pages += 1
                #expect(page.rows.count <= limit, "\(name)")
                collected += page.rows
                if let next = page.nextCursor {
                    #expect(page.rows.count == limit, "\(name): a short page that is not the last")
                    // Cursors travel as tokens.
                    let decoded = ReportCursor(token: next.token)
                    #expect(decoded == next)
                    cursor = decoded
                } else {
                    cursor = nil
                }
            } while cursor != nil && pages <= full.rows.count + 1
            if collected != full.rows {
                compareRows(collected, full.rows, zone: q.zone, "\(name), limit \(limit), \(pages) pages")
            }
            #expect(pages == max(1, (full.rows.count + limit - 1) / limit), "\(name)")
        }
    }

    /// The engine's unpaged rows are themselves right (checked against the Calendar oracle).
    @Test func unpagedRowsMatchOracle() async throws {
        let engine = Fixture.engine(try await Fixture.store(PaginationTests.events))
        for (name, q) in PaginationTests.queries() where q.sort.isEmpty && !q.fillGaps {
            #expect(Set(try await engine.run(q).rows.map(\.start)).count > 15)
            let oracle = CalendarOracle(zone: q.zone.identifier, from: q.from, to: q.to)
            let expected = CalendarOracle.rows(events: PaginationTests.events, query: q, boundaries: oracle.boundaries(q.bucket, weekStart: 1))
            compareRows(try await engine.run(q).rows, expected, zone: q.zone, name)
        }
        // With fill_gaps, every bucket has a row, zero when nothing was used.
        let q = try #require(PaginationTests.queries()["filled gaps"])
        let b = CalendarOracle(zone: q.zone.identifier, from: q.from, to: q.to).boundaries(q.bucket, weekStart: 1)
        let used = CalendarOracle.rows(events: PaginationTests.events, query: q, boundaries: b)
        let byStart = Dictionary(uniqueKeysWithValues: used.map { ($0.start, $0) })
        let expected = (0..<(b.count - 1)).map { i in
            byStart[b[i]] ?? ReportRow(start: b[i], end: b[i + 1], groups: [], values: [0, 0, 0])
        }
        #expect(expected.count == 721)  // 30 days and the fall-back's extra hour
        compareRows(try await engine.run(q).rows, expected, zone: q.zone, "filled gaps")
    }

    @Test(arguments: [ReportCursor.bucket(start: 1_762_063_200, skip: 3), .bucket(start: -900, skip: 0), .offset(0), .offset(42)])
    func cursorTokensRoundTrip(_ c: ReportCursor) {
        #expect(ReportCursor(token: c.token) == c)
    }

    @Test(arguments: ["", "x", "b", "b12", "b12_", "b_3", "b12_-1", "o", "o-1", "ox", "q12_3"])
    func badCursorTokens(_ token: String) {
        #expect(ReportCursor(token: token) == nil)
    }
}
