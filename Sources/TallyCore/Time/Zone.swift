import Foundation

/// An IANA time zone, resolved case-insensitively, with its UTC offsets over time.
public struct Zone: Sendable, Hashable, CustomStringConvertible {
    public let identifier: String
    let timeZone: TimeZone

    public static let utc = Zone(identifier: "UTC", timeZone: TimeZone(identifier: "UTC")!)

    init(identifier: String, timeZone: TimeZone) {
        self.identifier = identifier
        self.timeZone = timeZone
    }

    /// Resolves an IANA name in any letter case (`europe/london`); nil when unknown.
    public init?(named name: String) {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count < 64 else { return nil }
        let lower = trimmed.lowercased()
        if lower == "utc" || lower == "etc/utc" || lower == "z" || lower == "gmt" {
            self = .utc
            return
        }
        guard let canonical = Zone.lowercasedIndex[lower], let tz = TimeZone(identifier: canonical) else { return nil }
        self.init(identifier: canonical, timeZone: tz)
    }

    /// Every zone name Foundation knows plus every name of the system tz database (on Linux,
    /// `knownTimeZoneIdentifiers` omits current names such as `Asia/Kolkata`).
    private static let lowercasedIndex: [String: String] = {
        var index: [String: String] = [:]
        for id in TimeZone.knownTimeZoneIdentifiers { index[id.lowercased()] = id }
        let root = "/usr/share/zoneinfo/"
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let rel = walker.nextObject() as? String {
                guard let first = rel.unicodeScalars.first, CharacterSet.uppercaseLetters.contains(first),
                      !rel.hasPrefix("posix"), !rel.hasPrefix("right"), !rel.contains("."), index[rel.lowercased()] == nil,
                      TimeZone(identifier: rel) != nil else { continue }
                index[rel.lowercased()] = rel
            }
        }
        return index
    }()

    public var description: String { identifier }

    /// Seconds east of UTC in force at `instant` (epoch seconds).
    public func offset(at instant: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    /// The spans of constant offset covering `[from, to)`, in order.
    public func offsetSpans(from: Int64, to: Int64) -> [OffsetSpan] {
        var spans: [OffsetSpan] = []
        var start = from
        while start < to {
            let off = offset(at: start)
            var end = to
            if let next = timeZone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(start))) {
                let t = Int64(next.timeIntervalSince1970.rounded(.down))
                if t > start && t < to { end = t }
            }
            // Offset changes that are not DST transitions (a zone changing its standard
            // offset) are found by checking the span's end; split where the offset differs.
            if offset(at: end - 1) != off {
                end = Zone.firstChange(in: self, from: start, to: end, offset: off)
            }
            spans.append(OffsetSpan(start: start, end: end, offset: off))
            start = end
        }
        return spans
    }

    /// Binary search for the first instant in `(lo, hi)` whose offset differs from `offset`.
    private static func firstChange(in zone: Zone, from lo0: Int64, to hi0: Int64, offset: Int64) -> Int64 {
        var lo = lo0, hi = hi0 - 1  // offset(lo) == offset, offset(hi) != offset
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if zone.offset(at: mid) == offset { lo = mid } else { hi = mid }
        }
        return hi
    }
}

/// A half-open interval of UTC instants during which a zone's offset is constant.
public struct OffsetSpan: Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    public var offset: Int64
}
