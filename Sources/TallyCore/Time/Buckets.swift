/// The size of a report bucket on the wall clock of a zone (spec/time.md).
public enum Bucket: String, Sendable, CaseIterable, Codable {
    case quarterHour = "15m"
    case hour
    case day
    case week
    case month
    case total
}

/// The first day of a week, ISO numbered (1 = Monday ... 7 = Sunday).
public struct WeekStart: Sendable, Hashable {
    public let isoWeekday: Int
    public static let monday = WeekStart(checked: 1)

    private init(checked: Int) { isoWeekday = checked }

    public init?(isoWeekday: Int) {
        guard (1...7).contains(isoWeekday) else { return nil }
        self.isoWeekday = isoWeekday
    }

    private static let names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Accepts `monday`, `mon`, `Mon` ... and ISO numbers `1`...`7`.
    public init?(name: String) {
        let n = name.lowercased()
        if let i = Int(n) {
            self.init(isoWeekday: i)
            return
        }
        guard n.count >= 3, let i = WeekStart.names.firstIndex(where: { $0.hasPrefix(n) }) else { return nil }
        self.init(isoWeekday: i + 1)
    }

    public var name: String { WeekStart.names[isoWeekday - 1] }
}

/// Cuts UTC time into the buckets of a zone's wall clock.
///
/// A boundary is every instant at which the zone's wall clock shows the exact start of a
/// period, or enters a new period without having shown its start (a DST jump skipping it).
public struct BucketCutter: Sendable {
    public let bucket: Bucket
    public let zone: Zone
    public let weekStart: WeekStart

    public init(bucket: Bucket, zone: Zone, weekStart: WeekStart = .monday) {
        self.bucket = bucket
        self.zone = zone
        self.weekStart = weekStart
    }

    /// The boundaries cutting `[from, to)`: `from`, every boundary strictly inside, then `to`.
    public func boundaries(from: Int64, to: Int64) -> [Int64] {
        guard from < to else { return [from, to] }
        var result: [Int64] = [from]
        guard bucket != .total else { return [from, to] }
        var previousOffset: Int64? = nil
        for span in zone.offsetSpans(from: from, to: to) {
            let o = span.offset
            if let prev = previousOffset {
                let before = span.start - 1 + prev
                let after = span.start + o
                if isPeriodStart(after) || periodKey(before) != periodKey(after) {
                    if result.last != span.start { result.append(span.start) }
                }
            }
            var local = nextPeriodStart(after: span.start + o)
            while local - o < span.end {
                result.append(local - o)
                local = nextPeriodStart(after: local)
            }
            previousOffset = o
        }
        result.append(to)
        return result
    }

    // MARK: Periods on naive local seconds (local wall clock as if it were UTC).

    private var fixedLength: Int64? {
        switch bucket {
        case .quarterHour: return 900
        case .hour: return 3600
        case .day: return 86400
        default: return nil
        }
    }

    func isPeriodStart(_ local: Int64) -> Bool {
        if let p = fixedLength { return floorMod(local, p) == 0 }
        guard floorMod(local, 86400) == 0 else { return false }
        let day = floorDiv(local, 86400)
        switch bucket {
        case .week: return CivilDate.isoWeekday(dayNumber: day) == weekStart.isoWeekday
        case .month: return CivilDate(dayNumber: day).day == 1
        default: return false
        }
    }

    func periodKey(_ local: Int64) -> Int64 {
        if let p = fixedLength { return floorDiv(local, p) }
        let day = floorDiv(local, 86400)
        switch bucket {
        case .week:
            let back = Int64((CivilDate.isoWeekday(dayNumber: day) - weekStart.isoWeekday + 7) % 7)
            return day - back
        case .month:
            let c = CivilDate(dayNumber: day)
            return Int64(c.year * 12 + c.month - 1)
        default: return 0
        }
    }

    /// The first period start strictly after `local`.
    func nextPeriodStart(after local: Int64) -> Int64 {
        if let p = fixedLength { return floorDiv(local, p) * p + p }
        let day = floorDiv(local, 86400)
        switch bucket {
        case .week:
            let wd = CivilDate.isoWeekday(dayNumber: day + 1)
            let ahead = Int64((weekStart.isoWeekday - wd + 7) % 7)
            return (day + 1 + ahead) * 86400
        case .month:
            let c = CivilDate(dayNumber: day)
            let next = c.month == 12 ? CivilDate(year: c.year + 1, month: 1, day: 1) : CivilDate(year: c.year, month: c.month + 1, day: 1)
            return next.dayNumber * 86400
        default: return Int64.max / 2
        }
    }
}

extension Zone {
    /// The first instant of a local date (midnight, or the first instant after a skipped midnight).
    public func startOfDay(_ date: CivilDate) -> Int64 {
        let naive = date.dayNumber * 86400
        let cut = BucketCutter(bucket: .day, zone: self).boundaries(from: naive - 2 * 86400, to: naive + 2 * 86400)
        for b in cut where CivilDate(dayNumber: floorDiv(b + offset(at: b), 86400)) == date {
            return b
        }
        return naive - offset(at: naive)
    }

    /// A report range end: an RFC 3339 instant, or `YYYY-MM-DD` meaning that date's first instant here.
    public func instant(parsing text: String) -> Int64? {
        if let d = CivilDate(iso: text) { return startOfDay(d) }
        return RFC3339.parse(text)
    }

    /// The local date at an instant.
    public func date(at instant: Int64) -> CivilDate {
        CivilDate(dayNumber: floorDiv(instant + offset(at: instant), 86400))
    }
}
