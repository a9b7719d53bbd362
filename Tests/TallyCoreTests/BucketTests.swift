import Foundation
import Testing

@testable import TallyCore

/// One expected cut: the boundaries of `[from, to)` written as RFC 3339 strings in the zone's
/// own offsets, so both the instants and the labels (`RFC3339.format(_:in:)`) are checked.
struct BoundaryCase: Sendable, CustomTestStringConvertible {
    var name: String
    var zone: String
    var bucket: Bucket
    var weekStart: Int = 1
    /// Every boundary, the first being `from` and the last `to`.
    var expected: [String]

    var testDescription: String { name }
}

/// `prefix` + each hour (two digits) + `suffix`, e.g. `2025-11-02T` 02...23 `:00:00-05:00`.
private func hourLabels(_ prefix: String, _ hours: ClosedRange<Int>, _ suffix: String) -> [String] {
    hours.map { prefix + Digits.pad($0, 2) + suffix }
}

private func parse(_ s: String) throws -> Int64 {
    try #require(RFC3339.parse(s), "bad RFC 3339 literal \(s)")
}

/// The zone of an exact IANA name. `Zone(named:)` misses some valid names on Linux (see
/// `kolkataByName`), so this falls back to the zone's Foundation `TimeZone` to keep testing
/// the bucketing of those zones.
private func zone(_ name: String) throws -> Zone {
    if let z = Zone(named: name) { return z }
    let tz = try #require(TimeZone(identifier: name), "unknown zone \(name)")
    return Zone(identifier: name, timeZone: tz)
}

@Suite("Buckets")
struct BucketTests {
    static let cases: [BoundaryCase] = [
        // America/New_York, fall-back: 25 hours, two distinct 01:00 hours.
        BoundaryCase(
            name: "New York fall-back hours", zone: "America/New_York", bucket: .hour,
            expected: ["2025-11-02T00:00:00-04:00", "2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00"]
                + hourLabels("2025-11-02T", 2...23, ":00:00-05:00") + ["2025-11-03T00:00:00-05:00"]),
        // Spring-forward: 23 hours, no 02:00 hour.
        BoundaryCase(
            name: "New York spring-forward hours", zone: "America/New_York", bucket: .hour,
            expected: ["2025-03-09T00:00:00-05:00", "2025-03-09T01:00:00-05:00"]
                + hourLabels("2025-03-09T", 3...23, ":00:00-04:00") + ["2025-03-10T00:00:00-04:00"]),
        BoundaryCase(
            name: "New York fall-back days", zone: "America/New_York", bucket: .day,
            expected: ["2025-11-01T00:00:00-04:00", "2025-11-02T00:00:00-04:00", "2025-11-03T00:00:00-05:00", "2025-11-04T00:00:00-05:00"]),
        BoundaryCase(
            name: "New York spring-forward days", zone: "America/New_York", bucket: .day,
            expected: ["2025-03-08T00:00:00-05:00", "2025-03-09T00:00:00-05:00", "2025-03-10T00:00:00-04:00"]),
        BoundaryCase(
            name: "New York fall-back quarter hours", zone: "America/New_York", bucket: .quarterHour,
            expected: ["2025-11-02T01:30:00-04:00", "2025-11-02T01:45:00-04:00", "2025-11-02T01:00:00-05:00",
                       "2025-11-02T01:15:00-05:00", "2025-11-02T01:30:00-05:00"]),
        BoundaryCase(
            name: "New York spring-forward quarter hours", zone: "America/New_York", bucket: .quarterHour,
            expected: ["2025-03-09T01:30:00-05:00", "2025-03-09T01:45:00-05:00", "2025-03-09T03:00:00-04:00",
                       "2025-03-09T03:15:00-04:00"]),
        // Australia/Lord_Howe fall-back: 02:00 (+11:00) -> 01:30 (+10:30); the 01:00 hour lasts 90 minutes.
        BoundaryCase(
            name: "Lord Howe fall-back hours", zone: "Australia/Lord_Howe", bucket: .hour,
            expected: ["2025-04-06T00:00:00+11:00", "2025-04-06T01:00:00+11:00", "2025-04-06T02:00:00+10:30",
                       "2025-04-06T03:00:00+10:30", "2025-04-06T04:00:00+10:30"]),
        BoundaryCase(
            name: "Lord Howe fall-back quarter hours", zone: "Australia/Lord_Howe", bucket: .quarterHour,
            expected: ["2025-04-06T01:00:00+11:00", "2025-04-06T01:15:00+11:00", "2025-04-06T01:30:00+11:00",
                       "2025-04-06T01:45:00+11:00", "2025-04-06T01:30:00+10:30", "2025-04-06T01:45:00+10:30",
                       "2025-04-06T02:00:00+10:30"]),
        // Spring-forward: 02:00 (+10:30) -> 02:30 (+11:00); the 02:00 hour starts at 02:30+11:00, 30 minutes long.
        BoundaryCase(
            name: "Lord Howe spring-forward hours", zone: "Australia/Lord_Howe", bucket: .hour,
            expected: ["2025-10-05T00:00:00+10:30", "2025-10-05T01:00:00+10:30", "2025-10-05T02:30:00+11:00",
                       "2025-10-05T03:00:00+11:00", "2025-10-05T04:00:00+11:00", "2025-10-05T05:00:00+11:00"]),
        BoundaryCase(
            name: "Lord Howe spring-forward quarter hours", zone: "Australia/Lord_Howe", bucket: .quarterHour,
            expected: ["2025-10-05T01:30:00+10:30", "2025-10-05T01:45:00+10:30", "2025-10-05T02:30:00+11:00",
                       "2025-10-05T02:45:00+11:00", "2025-10-05T03:00:00+11:00"]),
        BoundaryCase(
            name: "Lord Howe fall-back days", zone: "Australia/Lord_Howe", bucket: .day,
            expected: ["2025-04-05T00:00:00+11:00", "2025-04-06T00:00:00+11:00", "2025-04-07T00:00:00+10:30"]),
        BoundaryCase(
            name: "Lord Howe spring-forward days", zone: "Australia/Lord_Howe", bucket: .day,
            expected: ["2025-10-04T00:00:00+10:30", "2025-10-05T00:00:00+10:30", "2025-10-06T00:00:00+11:00"]),
        // Asia/Kolkata (+05:30), Asia/Kathmandu (+05:45): the range is cut at its own ends.
        BoundaryCase(
            name: "Kolkata hours, clipped", zone: "Asia/Kolkata", bucket: .hour,
            expected: ["2025-06-01T05:30:00+05:30", "2025-06-01T06:00:00+05:30", "2025-06-01T07:00:00+05:30",
                       "2025-06-01T08:00:00+05:30", "2025-06-01T08:30:00+05:30"]),
        BoundaryCase(
            name: "Kolkata days, clipped", zone: "Asia/Kolkata", bucket: .day,
            expected: ["2025-06-01T05:30:00+05:30", "2025-06-02T00:00:00+05:30", "2025-06-03T00:00:00+05:30",
                       "2025-06-03T05:30:00+05:30"]),
        BoundaryCase(
            name: "Kolkata quarter hours", zone: "Asia/Kolkata", bucket: .quarterHour,
            expected: ["2025-06-01T05:30:00+05:30", "2025-06-01T05:45:00+05:30", "2025-06-01T06:00:00+05:30",
                       "2025-06-01T06:15:00+05:30", "2025-06-01T06:30:00+05:30"]),
        BoundaryCase(
            name: "Kathmandu hours, clipped", zone: "Asia/Kathmandu", bucket: .hour,
            expected: ["2025-06-01T05:45:00+05:45", "2025-06-01T06:00:00+05:45", "2025-06-01T07:00:00+05:45",
                       "2025-06-01T08:00:00+05:45", "2025-06-01T08:45:00+05:45"]),
        BoundaryCase(
            name: "Kathmandu days, clipped", zone: "Asia/Kathmandu", bucket: .day,
            expected: ["2025-06-01T05:45:00+05:45", "2025-06-02T00:00:00+05:45", "2025-06-02T05:45:00+05:45"]),
        // Kathmandu moved from +05:30 to +05:45 at 1986-01-01 00:00 (a standard-offset change, not
        // DST): the clock went 23:59:59 -> 00:15, so hour 0 and January 1st start at 00:15+05:45.
        BoundaryCase(
            name: "Kathmandu 1986 offset change, hours", zone: "Asia/Kathmandu", bucket: .hour,
            expected: ["1985-12-31T22:00:00+05:30", "1985-12-31T23:00:00+05:30", "1986-01-01T00:15:00+05:45",
                       "1986-01-01T01:00:00+05:45", "1986-01-01T02:00:00+05:45", "1986-01-01T03:00:00+05:45"]),
        BoundaryCase(
            name: "Kathmandu 1986 offset change, days", zone: "Asia/Kathmandu", bucket: .day,
            expected: ["1985-12-31T00:00:00+05:30", "1986-01-01T00:15:00+05:45", "1986-01-02T00:00:00+05:45"]),
        // America/Santiago: DST starts at midnight (00:00 -> 01:00), so 2025-09-07 starts at 01:00.
        BoundaryCase(
            name: "Santiago skipped midnight, days", zone: "America/Santiago", bucket: .day,
            expected: ["2025-09-06T00:00:00-04:00", "2025-09-07T01:00:00-03:00", "2025-09-08T00:00:00-03:00"]),
        BoundaryCase(
            name: "Santiago fall-back at midnight, days", zone: "America/Santiago", bucket: .day,
            expected: ["2025-04-05T00:00:00-03:00", "2025-04-06T00:00:00-04:00", "2025-04-07T00:00:00-04:00"]),
        BoundaryCase(
            name: "Santiago fall-back at midnight, hours", zone: "America/Santiago", bucket: .hour,
            expected: ["2025-04-05T22:00:00-03:00", "2025-04-05T23:00:00-03:00", "2025-04-05T23:00:00-04:00",
                       "2025-04-06T00:00:00-04:00", "2025-04-06T01:00:00-04:00"]),
        BoundaryCase(
            name: "Santiago skipped midnight, weeks starting Sunday", zone: "America/Santiago", bucket: .week, weekStart: 7,
            expected: ["2025-09-01T00:00:00-04:00", "2025-09-07T01:00:00-03:00", "2025-09-14T00:00:00-03:00",
                       "2025-09-15T00:00:00-03:00"]),
        // Europe/London: an offset of zero in a zone other than UTC is written +00:00.
        BoundaryCase(
            name: "London spring-forward hours", zone: "europe/london", bucket: .hour,
            expected: ["2025-03-30T00:00:00+00:00", "2025-03-30T02:00:00+01:00", "2025-03-30T03:00:00+01:00"]),
        // Weeks.
        BoundaryCase(
            name: "UTC weeks starting Monday", zone: "UTC", bucket: .week,
            expected: ["2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z", "2025-06-09T00:00:00Z", "2025-06-16T00:00:00Z",
                       "2025-06-23T00:00:00Z", "2025-06-30T00:00:00Z"]),
        BoundaryCase(
            name: "UTC weeks starting Sunday", zone: "UTC", bucket: .week, weekStart: 7,
            expected: ["2025-06-01T00:00:00Z", "2025-06-08T00:00:00Z", "2025-06-15T00:00:00Z", "2025-06-22T00:00:00Z",
                       "2025-06-29T00:00:00Z", "2025-06-30T00:00:00Z"]),
        BoundaryCase(
            name: "UTC weeks starting Wednesday", zone: "UTC", bucket: .week, weekStart: 3,
            expected: ["2025-06-01T00:00:00Z", "2025-06-04T00:00:00Z", "2025-06-11T00:00:00Z", "2025-06-18T00:00:00Z",
                       "2025-06-20T00:00:00Z"]),
        BoundaryCase(
            name: "New York weeks starting Monday over fall-back", zone: "America/New_York", bucket: .week,
            expected: ["2025-10-27T00:00:00-04:00", "2025-11-03T00:00:00-05:00", "2025-11-10T00:00:00-05:00",
                       "2025-11-17T00:00:00-05:00"]),
        BoundaryCase(
            name: "New York weeks starting Sunday, clipped", zone: "America/New_York", bucket: .week, weekStart: 7,
            expected: ["2025-10-29T12:00:00-04:00", "2025-11-02T00:00:00-04:00", "2025-11-09T00:00:00-05:00",
                       "2025-11-12T06:00:00-05:00"]),
        BoundaryCase(
            name: "Year-end weeks", zone: "UTC", bucket: .week,
            expected: ["2025-12-24T00:00:00Z", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"]),
        // Months.
        BoundaryCase(
            name: "New York months, clipped", zone: "America/New_York", bucket: .month,
            expected: ["2025-01-15T00:00:00-05:00", "2025-02-01T00:00:00-05:00", "2025-03-01T00:00:00-05:00",
                       "2025-04-01T00:00:00-04:00", "2025-05-01T00:00:00-04:00", "2025-05-10T00:00:00-04:00"]),
        BoundaryCase(
            name: "UTC months over a year end", zone: "UTC", bucket: .month,
            expected: ["2024-11-20T00:00:00Z", "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z",
                       "2025-02-03T00:00:00Z"]),
        BoundaryCase(
            name: "UTC months of a leap year", zone: "UTC", bucket: .month,
            expected: (1...12).map { "2024-" + Digits.pad($0, 2) + "-01T00:00:00Z" } + ["2025-01-01T00:00:00Z"]),
        BoundaryCase(
            name: "Lord Howe months", zone: "Australia/Lord_Howe", bucket: .month,
            expected: ["2025-03-01T00:00:00+11:00", "2025-04-01T00:00:00+11:00", "2025-05-01T00:00:00+10:30"]),
        BoundaryCase(
            name: "Kathmandu month of the 1986 offset change", zone: "Asia/Kathmandu", bucket: .month,
            expected: ["1985-12-01T00:00:00+05:30", "1986-01-01T00:15:00+05:45", "1986-02-01T00:00:00+05:45"]),
        // Total and range clipping.
        BoundaryCase(
            name: "New York total over a year", zone: "America/New_York", bucket: .total,
            expected: ["2025-01-01T00:00:00-05:00", "2026-01-01T00:00:00-05:00"]),
        BoundaryCase(
            name: "UTC days, clipped at both ends", zone: "UTC", bucket: .day,
            expected: ["2025-06-01T10:15:00Z", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z", "2025-06-03T07:45:00Z"]),
        BoundaryCase(
            name: "UTC hours, range inside one bucket", zone: "UTC", bucket: .hour,
            expected: ["2025-06-01T10:15:00Z", "2025-06-01T10:45:00Z"]),
        BoundaryCase(
            name: "UTC quarter hours", zone: "UTC", bucket: .quarterHour,
            expected: ["2025-06-01T23:30:00Z", "2025-06-01T23:45:00Z", "2025-06-02T00:00:00Z", "2025-06-02T00:15:00Z"]),
    ]

    @Test("boundaries and labels", arguments: BucketTests.cases)
    func boundaries(_ c: BoundaryCase) throws {
        let z = try zone(c.zone)
        let expected = try c.expected.map(parse)
        let weekStart = try #require(WeekStart(isoWeekday: c.weekStart))
        let cut = BucketCutter(bucket: c.bucket, zone: z, weekStart: weekStart)
            .boundaries(from: expected.first!, to: expected.last!)
        #expect(cut.map { RFC3339.format($0, in: z) } == c.expected)
        #expect(cut == expected)
    }

    @Test func newYorkFallBackDayHasTwoDistinctOneOClockHours() throws {
        let ny = try zone("America/New_York")
        let from = try parse("2025-11-02T00:00:00-04:00"), to = try parse("2025-11-03T00:00:00-05:00")
        #expect(to - from == 25 * 3600)
        let b = BucketCutter(bucket: .hour, zone: ny).boundaries(from: from, to: to)
        #expect(b.count - 1 == 25)
        let labels = b.dropLast().map { RFC3339.format($0, in: ny) }
        #expect(labels.filter { $0.hasPrefix("2025-11-02T01:") } == ["2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00"])
        #expect(Set(labels).count == 25)
        #expect(zip(b, b.dropFirst()).allSatisfy { $1 - $0 == 3600 })
        // One day bucket covers all 25 hours.
        #expect(BucketCutter(bucket: .day, zone: ny).boundaries(from: from, to: to) == [from, to])
    }

    @Test func newYorkSpringForwardDayHasNoTwoOClockHour() throws {
        let ny = try zone("America/New_York")
        let from = try parse("2025-03-09T00:00:00-05:00"), to = try parse("2025-03-10T00:00:00-04:00")
        #expect(to - from == 23 * 3600)
        let b = BucketCutter(bucket: .hour, zone: ny).boundaries(from: from, to: to)
        #expect(b.count - 1 == 23)
        #expect(!b.map { RFC3339.format($0, in: ny) }.contains { $0.hasPrefix("2025-03-09T02:") })
    }

    @Test func lordHoweOddHours() throws {
        let lh = try zone("Australia/Lord_Howe")
        let fall = BucketCutter(bucket: .hour, zone: lh)
            .boundaries(from: try parse("2025-04-06T00:00:00+11:00"), to: try parse("2025-04-06T04:00:00+10:30"))
        let one = try parse("2025-04-06T01:00:00+11:00")
        let i = try #require(fall.firstIndex(of: one))
        #expect(fall[i + 1] - one == 90 * 60)
        #expect(RFC3339.format(fall[i + 1], in: lh) == "2025-04-06T02:00:00+10:30")

        let spring = BucketCutter(bucket: .hour, zone: lh)
            .boundaries(from: try parse("2025-10-05T00:00:00+10:30"), to: try parse("2025-10-05T05:00:00+11:00"))
        let two = try parse("2025-10-05T02:30:00+11:00")
        let j = try #require(spring.firstIndex(of: two))
        #expect(spring[j + 1] - two == 30 * 60)
        #expect(RFC3339.format(two, in: lh) == "2025-10-05T02:30:00+11:00")
    }

    /// Over a whole year (two transitions whose offsets cancel out), every hour and day is found.
    @Test func newYorkWholeYear() throws {
        let ny = try zone("America/New_York")
        let from = try parse("2025-01-01T00:00:00-05:00"), to = try parse("2026-01-01T00:00:00-05:00")
        let hours = BucketCutter(bucket: .hour, zone: ny).boundaries(from: from, to: to)
        #expect(hours.count - 1 == 8760)
        #expect(zip(hours, hours.dropFirst()).allSatisfy { $1 - $0 == 3600 })
        let days = BucketCutter(bucket: .day, zone: ny).boundaries(from: from, to: to)
        let lengths = zip(days, days.dropFirst()).map { $1 - $0 }
        #expect(lengths.count == 365)
        #expect(lengths.filter { $0 == 23 * 3600 }.count == 1)
        #expect(lengths.filter { $0 == 25 * 3600 }.count == 1)
        #expect(lengths.filter { $0 == 24 * 3600 }.count == 363)
        let months = BucketCutter(bucket: .month, zone: ny).boundaries(from: from, to: to)
        #expect(months.dropLast().map { RFC3339.format($0, in: ny) } == (1...12).map {
            "2025-" + Digits.pad($0, 2) + "-01T00:00:00" + ((4...11).contains($0) ? "-04:00" : "-05:00")
        })
    }

    @Test func lordHoweWholeYear() throws {
        let lh = try zone("Australia/Lord_Howe")
        let from = try parse("2025-01-01T00:00:00+11:00"), to = try parse("2026-01-01T00:00:00+11:00")
        let days = BucketCutter(bucket: .day, zone: lh).boundaries(from: from, to: to)
        let lengths = zip(days, days.dropFirst()).map { $1 - $0 }
        #expect(lengths.count == 365)
        #expect(lengths.filter { $0 == 86400 + 1800 }.count == 1)
        #expect(lengths.filter { $0 == 86400 - 1800 }.count == 1)
        let hours = BucketCutter(bucket: .hour, zone: lh).boundaries(from: from, to: to)
        let hourLengths = zip(hours, hours.dropFirst()).map { $1 - $0 }
        #expect(hourLengths.filter { $0 != 3600 }.sorted() == [1800, 5400])
        #expect(hours.count - 1 == 8760)
    }

    /// Local hours and days of half- and quarter-hour zones start at UTC :30 and :15.
    @Test(arguments: [("Asia/Kolkata", Int64(1800)), ("Asia/Kathmandu", Int64(900))], [Bucket.hour, .day])
    func offsetZonesStartOffTheUTCHour(zoneCase: (String, Int64), bucket: Bucket) throws {
        let (name, minuteOffset) = zoneCase
        let z = try zone(name)
        let from = try parse("2025-05-01T00:00:00Z"), to = try parse("2025-06-01T00:00:00Z")
        let b = BucketCutter(bucket: bucket, zone: z).boundaries(from: from, to: to)
        let inner = b.dropFirst().dropLast()
        #expect(inner.count == (bucket == .hour ? 31 * 24 : 31))
        #expect(inner.allSatisfy { floorMod($0, 3600) == minuteOffset })
        for t in inner {
            let label = RFC3339.format(t, in: z)
            #expect(label.contains(bucket == .hour ? ":00:00+05:" : "T00:00:00+05:"), "\(label)")
        }
    }

    /// Every boundary of every zone and bucket falls on a UTC quarter hour, strictly increasing.
    @Test(arguments: ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Santiago", "Europe/London"])
    func boundariesFallOnQuarterHours(name: String) throws {
        let z = try zone(name)
        let from = try parse("2024-12-31T00:00:00Z"), to = try parse("2026-01-02T00:00:00Z")
        for bucket in Bucket.allCases {
            for ws in [1, 7] {
                let b = BucketCutter(bucket: bucket, zone: z, weekStart: WeekStart(isoWeekday: ws)!).boundaries(from: from, to: to)
                #expect(b.first == from && b.last == to)
                #expect(b.allSatisfy { floorMod($0, 900) == 0 }, "\(bucket) \(name)")
                #expect(zip(b, b.dropFirst()).allSatisfy { $0 < $1 }, "\(bucket) \(name)")
            }
        }
    }

    @Test func totalIsTheWholeRange() throws {
        let from = try parse("2025-01-01T00:15:00Z"), to = try parse("2027-03-01T07:45:00Z")
        for name in ["UTC", "America/New_York", "Australia/Lord_Howe"] {
            #expect(BucketCutter(bucket: .total, zone: try zone(name)).boundaries(from: from, to: to) == [from, to])
        }
    }

    // MARK: WeekStart

    @Test(arguments: [("monday", 1), ("Mon", 1), ("SUNDAY", 7), ("sun", 7), ("wed", 3), ("7", 7), ("1", 1)])
    func weekStartNames(name: String, iso: Int) {
        #expect(WeekStart(name: name)?.isoWeekday == iso)
    }

    @Test(arguments: ["", "mo", "0", "8", "funday", "-1"])
    func weekStartRejects(name: String) {
        #expect(WeekStart(name: name) == nil)
    }

    // MARK: Zone

    @Test(arguments: [
        ("europe/london", "Europe/London"), ("America/New_York", "America/New_York"),
        ("america/NEW_YORK", "America/New_York"), ("australia/lord_howe", "Australia/Lord_Howe"),
        ("asia/kathmandu", "Asia/Kathmandu"), ("utc", "UTC"), ("UTC", "UTC"), ("Etc/UTC", "UTC"),
    ])
    func zoneNamesAreCaseInsensitive(name: String, canonical: String) throws {
        let z = try #require(Zone(named: name))
        #expect(z.identifier == canonical)
        #expect(z == Zone(named: canonical))
    }

    /// Asia/Kolkata is the canonical IANA name (spec/time.md uses it), but Linux Foundation's
    /// `TimeZone.knownTimeZoneIdentifiers` lists only its old alias Asia/Calcutta.
    @Test(
        arguments: [("ASIA/KOLKATA", "Asia/Kolkata"), ("Asia/Kolkata", "Asia/Kolkata"), ("asia/kolkata", "Asia/Kolkata"),
                    ("Asia/Saigon", "Asia/Saigon"), ("US/Eastern", "US/Eastern")])
    func kolkataByName(name: String, canonical: String) throws {
        let z = try #require(Zone(named: name))
        #expect(z.identifier == canonical)
        #expect(z.offset(at: 0) == (try zone(canonical)).offset(at: 0))
    }

    /// Names Foundation knows that Zone(named:) resolves today (the aliases listed by Linux Foundation).
    @Test func calcuttaResolves() throws {
        let z = try #require(Zone(named: "asia/calcutta"))
        #expect(z.offset(at: 1_735_689_600) == 19800)
    }

    @Test(arguments: ["", "   ", "Mars/Olympus_Mons", "Europe/Londn", "Europe", "New_York", "America/New York",
                      "../../etc/passwd", String(repeating: "a", count: 80)])
    func unknownZonesAreRejected(name: String) {
        #expect(Zone(named: name) == nil)
    }

    @Test func zoneOffsets() throws {
        let ny = try zone("America/New_York")
        #expect(ny.offset(at: try parse("2025-11-02T05:59:59Z")) == -4 * 3600)
        #expect(ny.offset(at: try parse("2025-11-02T06:00:00Z")) == -5 * 3600)
        let lh = try zone("Australia/Lord_Howe")
        #expect(lh.offset(at: try parse("2025-10-04T15:29:59Z")) == 37800)
        #expect(lh.offset(at: try parse("2025-10-04T15:30:00Z")) == 39600)
    }

    struct StartOfDayCase: Sendable, CustomTestStringConvertible {
        var zone: String
        var date: String
        var expected: String
        var testDescription: String { "\(zone) \(date)" }
    }

    @Test(arguments: [
        StartOfDayCase(zone: "UTC", date: "2025-06-01", expected: "2025-06-01T00:00:00Z"),
        StartOfDayCase(zone: "America/New_York", date: "2025-11-02", expected: "2025-11-02T00:00:00-04:00"),
        StartOfDayCase(zone: "America/New_York", date: "2025-11-03", expected: "2025-11-03T00:00:00-05:00"),
        StartOfDayCase(zone: "America/New_York", date: "2025-03-09", expected: "2025-03-09T00:00:00-05:00"),
        StartOfDayCase(zone: "America/New_York", date: "2025-03-10", expected: "2025-03-10T00:00:00-04:00"),
        StartOfDayCase(zone: "Asia/Kolkata", date: "2025-06-01", expected: "2025-06-01T00:00:00+05:30"),
        StartOfDayCase(zone: "Asia/Kathmandu", date: "2025-06-01", expected: "2025-06-01T00:00:00+05:45"),
        StartOfDayCase(zone: "Asia/Kathmandu", date: "1986-01-01", expected: "1986-01-01T00:15:00+05:45"),
        StartOfDayCase(zone: "Australia/Lord_Howe", date: "2025-10-05", expected: "2025-10-05T00:00:00+10:30"),
        StartOfDayCase(zone: "Australia/Lord_Howe", date: "2025-10-06", expected: "2025-10-06T00:00:00+11:00"),
        StartOfDayCase(zone: "America/Santiago", date: "2025-09-07", expected: "2025-09-07T01:00:00-03:00"),
        StartOfDayCase(zone: "America/Santiago", date: "2025-04-06", expected: "2025-04-06T00:00:00-04:00"),
        StartOfDayCase(zone: "Pacific/Kiritimati", date: "2025-06-01", expected: "2025-06-01T00:00:00+14:00"),
        StartOfDayCase(zone: "Pacific/Pago_Pago", date: "2025-06-01", expected: "2025-06-01T00:00:00-11:00"),
    ])
    func startOfDay(_ c: StartOfDayCase) throws {
        let z = try zone(c.zone)
        let date = try #require(CivilDate(iso: c.date))
        let start = z.startOfDay(date)
        #expect(RFC3339.format(start, in: z) == c.expected)
        #expect(start == (try parse(c.expected)))
        #expect(z.date(at: start) == date)
        #expect(z.date(at: start - 1) == date.adding(days: -1))
    }

    // MARK: CivilDate

    @Test func civilDateRoundTripsOverAWideRange() {
        var d: Int64 = -1_000_000  // about 770 BCE ... 4700 CE, day by day
        var previous = CivilDate(dayNumber: d - 1)
        while d <= 1_000_000 {
            let c = CivilDate(dayNumber: d)
            if c.dayNumber != d { Issue.record("\(d) -> \(c) -> \(c.dayNumber)"); return }
            if d % 13 == 0 && CivilDate(year: c.year, month: c.month, day: c.day) != c { Issue.record("\(c)"); return }
            // Consecutive day numbers are consecutive dates.
            let next = previous.day < CivilDate.daysInMonth(year: previous.year, month: previous.month)
                ? CivilDate(year: previous.year, month: previous.month, day: previous.day + 1)
                : previous.month < 12 ? CivilDate(year: previous.year, month: previous.month + 1, day: 1)
                : CivilDate(year: previous.year + 1, month: 1, day: 1)
            if next != c { Issue.record("day \(d): \(previous) is followed by \(c)"); return }
            if c.isoWeekday != Int(((d % 7 + 7 + 3) % 7) + 1) { Issue.record("weekday of \(c)"); return }
            previous = c
            d += 1
        }
    }

    @Test func civilDateRoundTripsFarOut() {
        var d: Int64 = -1_000_000_000  // about 2.7 million years either side
        while d <= 1_000_000_000 {
            let c = CivilDate(dayNumber: d)
            if c.dayNumber != d || !(1...12).contains(c.month) || c.day < 1 || c.day > CivilDate.daysInMonth(year: c.year, month: c.month) {
                Issue.record("\(d) -> \(c) -> \(c.dayNumber)")
                return
            }
            d += 1_000_003
        }
        // 400-year cycles are exactly 146,097 days.
        #expect(CivilDate(year: 2400, month: 3, day: 1).dayNumber - CivilDate(year: 2000, month: 3, day: 1).dayNumber == 146_097)
        #expect(CivilDate(year: -400, month: 3, day: 1).dayNumber - CivilDate(year: -800, month: 3, day: 1).dayNumber == 146_097)
    }

    @Test func civilDateAgreesWithFoundationGregorian() throws {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = try #require(TimeZone(identifier: "UTC"))
        // Foundation's Gregorian calendar is Julian before 1582-10-15; compare after it.
        var d: Int64 = CivilDate(year: 1583, month: 1, day: 1).dayNumber
        while d < CivilDate(year: 9999, month: 12, day: 31).dayNumber {
            let c = CivilDate(dayNumber: d)
            let f = cal.dateComponents([.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: TimeInterval(d * 86400)))
            if f.year != c.year || f.month != c.month || f.day != c.day {
                Issue.record("day \(d): \(c) vs Foundation \(f)")
                return
            }
            #expect(f.weekday! == c.isoWeekday % 7 + 1)
            d += 997
        }
    }

    @Test(arguments: [
        ("1970-01-01", Int64(0)), ("1969-12-31", -1), ("2000-02-29", 11016), ("2000-03-01", 11017),
        ("2025-11-02", 20394), ("1600-02-29", -135081), ("0001-01-01", -719162), ("9999-12-31", 2932896),
    ])
    func civilDateAnchors(text: String, day: Int64) throws {
        let c = try #require(CivilDate(iso: text))
        #expect(c.dayNumber == day)
        #expect(CivilDate(dayNumber: day).description == text)
    }

    @Test func civilDateFacts() {
        #expect(CivilDate(iso: "2025-11-02")?.isoWeekday == 7)
        #expect(CivilDate(iso: "2025-11-03")?.isoWeekday == 1)
        #expect(CivilDate(iso: "1970-01-01")?.isoWeekday == 4)
        #expect(CivilDate.daysInMonth(year: 1900, month: 2) == 28)
        #expect(CivilDate.daysInMonth(year: 2000, month: 2) == 29)
        #expect(CivilDate.daysInMonth(year: 2024, month: 2) == 29)
        #expect(CivilDate.daysInMonth(year: 2025, month: 2) == 28)
        for bad in ["2025-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "2025-1-01", "2025/01/01", "20250101", "2025-01-1x", ""] {
            #expect(CivilDate(iso: bad) == nil, "\(bad)")
        }
        #expect(CivilDate(iso: "2024-02-29") != nil)
    }

    // MARK: RFC 3339

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1970-01-01T00:00:00z", 0),
        ("1970-01-01t00:00:00Z", 0),
        ("1970-01-01 00:00:00Z", 0),
        ("1970-01-01T00:00:00-00", 0),
        ("1970-01-01T00:00:00-0000", 0),
        ("1970-01-01T00:00:00-00:00", 0),
        ("1970-01-01T00:00:00+00:00", 0),
        ("1970-01-01T05:45:00+05:45", 0),
        ("1970-01-01T05:45:00+0545", 0),
        ("1970-01-01T05:00:00+05", 0),
        ("1969-12-31T19:00:00-05:00", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("1969-12-31T23:59:59.999Z", -1),
        ("1970-01-01T00:00:00.5Z", 0),
        ("1970-01-01T00:00:01.999999999Z", 1),
        ("2025-11-02T01:00:00-05:00", 1_762_063_200),
        ("2025-11-02T01:00:00-04:00", 1_762_059_600),
        ("2025-11-02T06:00:00Z", 1_762_063_200),
        ("2024-02-29T12:00:00Z", 1_709_208_000),
        ("2000-01-01T00:00:00.123+14:00", 946_634_400),
        ("1900-01-01T00:00:00Z", -2_208_988_800),
    ] as [(String, Int64)])
    func rfc3339Parses(text: String, expected: Int64) {
        #expect(RFC3339.parse(text) == expected)
    }

    @Test(arguments: [
        "", "garbage", "2025-06-01", "2025-06-01T00:00:00", "2025-06-01T00:00Z", "2025-13-01T00:00:00Z",
        "2025-00-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-06-00T00:00:00Z",
        "2025-06-01T24:00:00Z", "2025-06-01T23:60:00Z", "2025-06-01T23:59:61Z", "2025-06-01T00:00:00+24:00",
        "2025-06-01T00:00:00+05:60", "2025-06-01T00:00:00+05:4", "2025-06-01T00:00:00+5:00", "2025-06-01T00:00:00+",
        "2025-06-01T00:00:00+05:", "2025-06-01T00:00:00.Z", "2025-06-01T00:00:00.1234567890Z",
        "2025-06-01T00:00:00ZZ", "2025-06-01T00:00:00Z ", " 2025-06-01T00:00:00Z", "2025-06-01X00:00:00Z",
        "2025/06/01T00:00:00Z", "2025-06-01T00-00-00Z", "2025-06-01T0a:00:00Z", "+025-06-01T00:00:00Z",
        "2025-06-01T00:00:00+05:45:00", "2025-06-01T00:00:00UTC", "2025-06-01T00:00:00,5Z",
    ])
    func rfc3339Rejects(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func rfc3339Formats() throws {
        #expect(RFC3339.format(0, in: .utc) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(-1, in: .utc) == "1969-12-31T23:59:59Z")
        #expect(RFC3339.format(1_762_063_200, in: try zone("America/New_York")) == "2025-11-02T01:00:00-05:00")
        #expect(RFC3339.format(1_762_059_600, in: try zone("America/New_York")) == "2025-11-02T01:00:00-04:00")
        #expect(RFC3339.format(0, in: try zone("Europe/London")) == "1970-01-01T01:00:00+01:00")
        #expect(RFC3339.format(1_735_689_600, in: try zone("Europe/London")) == "2025-01-01T00:00:00+00:00")
        #expect(RFC3339.format(1_735_689_600, in: try zone("Asia/Kathmandu")) == "2025-01-01T05:45:00+05:45")
        #expect(RFC3339.format(1_735_689_600, offset: -9000) == "2024-12-31T21:30:00-02:30")
        #expect(RFC3339.format(1_735_689_600, offset: 0, utcAsZ: false) == "2025-01-01T00:00:00+00:00")
        // Formatting then parsing is the identity, whatever the zone.
        for name in ["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago"] {
            let z = try zone(name)
            var t: Int64 = 1_735_689_600
            while t < 1_767_225_600 {
                let s = RFC3339.format(t, in: z)
                #expect(RFC3339.parse(s) == t, "\(s)")
                t += 86400 * 3 + 3599
            }
        }
    }
}
