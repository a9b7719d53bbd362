/// RFC 3339 instants: strict parsing to epoch seconds, and rendering with a zone's offset.
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM|±HH]` to epoch seconds (fraction floored).
    /// `T` may be `t` or a space; `Z` may be `z`; `-00`, `-0000` and `-00:00` mean UTC.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        var s = Array(text.utf8)
        return s.withUnsafeMutableBufferPointer { parse(bytes: UnsafeBufferPointer($0)) }
    }

    public static func parse(bytes u: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = u.count
        if n == 20, u[19] == 90, let t = parseUTC(u) { return t }
        guard n >= 19, u[4] == 45, u[7] == 45, u[10] == 84 || u[10] == 116 || u[10] == 32,
              u[13] == 58, u[16] == 58 else { return nil }
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b {
                let c = u[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10),
              let h = num(11, 13), let mi = num(14, 16), let se = num(17, 19),
              (1...12).contains(mo), d >= 1, d <= CivilDate.daysInMonth(year: y, month: mo),
              h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        if i < n, u[i] == 46 {  // fraction
            i += 1
            let start = i
            while i < n, u[i] >= 48, u[i] <= 57 { i += 1 }
            guard i > start, i - start <= 9 else { return nil }
        }
        var offset = 0
        guard i < n else { return nil }  // a zone designator is required
        switch u[i] {
        case 90, 122: i += 1
        case 43, 45:
            let sign = u[i] == 45 ? -1 : 1
            i += 1
            guard i + 2 <= n, let oh = num(i, i + 2), oh < 24 else { return nil }
            i += 2
            var om = 0
            if i < n {
                if u[i] == 58 { i += 1 }
                guard i + 2 <= n, let m = num(i, i + 2), m < 60 else { return nil }
                om = m
                i += 2
            }
            offset = sign * (oh * 3600 + om * 60)
        default: return nil
        }
        guard i == n else { return nil }
        let days = CivilDate(year: y, month: mo, day: d).dayNumber
        return days * 86400 + Int64(h * 3600 + mi * 60 + min(se, 59)) - Int64(offset)
    }

    /// The common form `YYYY-MM-DDThh:mm:ssZ` (exactly 20 bytes), digits read without
    /// per-field loops: nil for anything else, which the full parser then reads (with the same
    /// result for this form).
    private static func parseUTC(_ u: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58 else { return nil }
        var bad: UInt8 = 0
        func d(_ i: Int) -> Int {
            let v = u[i] &- 48
            bad |= v > 9 ? 1 : 0
            return Int(v)
        }
        let y = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3), mo = d(5) * 10 + d(6), day = d(8) * 10 + d(9)
        let h = d(11) * 10 + d(12), mi = d(14) * 10 + d(15), se = d(17) * 10 + d(18)
        guard bad == 0, mo >= 1, mo <= 12, day >= 1, day <= CivilDate.daysInMonth(year: y, month: mo), h < 24, mi < 60, se < 61 else { return nil }
        return CivilDate(year: y, month: mo, day: day).dayNumber * 86400 + Int64(h * 3600 + mi * 60 + min(se, 59))
    }

    /// Renders an instant with the offset `zone` has at that instant (`Z` for UTC itself).
    public static func format(_ instant: Int64, in zone: Zone) -> String {
        let off = zone.offset(at: instant)
        return format(instant, offset: off, utcAsZ: zone.identifier == "UTC")
    }

    public static func format(_ instant: Int64, offset off: Int64, utcAsZ: Bool = true) -> String {
        let local = instant + off
        let day = floorDiv(local, 86400)
        let sec = Int(floorMod(local, 86400))
        var s = CivilDate(dayNumber: day).description
        s += "T" + Digits.pad(sec / 3600, 2) + ":" + Digits.pad(sec / 60 % 60, 2) + ":" + Digits.pad(sec % 60, 2)
        if off == 0 && utcAsZ { return s + "Z" }
        let a = abs(Int(off))
        s += (off < 0 ? "-" : "+") + Digits.pad(a / 3600, 2) + ":" + Digits.pad(a / 60 % 60, 2)
        return s
    }
}
