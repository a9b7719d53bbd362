/// Exact fixed-point numbers: a metric value is an `Int64` count of its smallest unit
/// (`10^-scale`). Parsing reads decimal text, never a binary float; rounding happens
/// only in `render`.
public enum Exact {
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notANumber
        case tooManyDecimals(scale: Int)
        case negative
        case outOfRange

        public var description: String {
            switch self {
            case .notANumber: return "not a number"
            case .tooManyDecimals(let s): return s == 0 ? "must be a whole number" : "has more than \(s) decimals"
            case .negative: return "must not be negative"
            case .outOfRange: return "is too large"
            }
        }
    }

    static let powersOf10: [Int64] = (0...18).map { i in (0..<i).reduce(Int64(1)) { a, _ in a * 10 } }

    public static func pow10(_ n: Int) -> Int64 { powersOf10[n] }

    /// Parses decimal text (`12`, `0.0008`, `2.15e6`, `-1`) into units of `10^-scale`.
    public static func parse(_ text: some StringProtocol, scale: Int, allowNegative: Bool = false) -> Result<Int64, ParseError> {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { parse(bytes: UnsafeBufferPointer($0), scale: scale, allowNegative: allowNegative) }
    }

    public static func parse(bytes u: UnsafeBufferPointer<UInt8>, scale: Int, allowNegative: Bool = false) -> Result<Int64, ParseError> {
        let n = u.count
        if n > 0, n <= 18, let v = plainInteger(u, scale: scale) { return .success(v) }
        var i = 0
        var negative = false
        if i < n, u[i] == 45 { negative = true; i += 1 } else if i < n, u[i] == 43 { i += 1 }
        var digits: Int64 = 0  // all significant digits as an integer
        var fractionDigits = 0
        var seenDigit = false
        var seenPoint = false
        var overflow = false
        var pendingZeros = 0  // fraction zeros not yet multiplied in (trailing zeros never overflow)
        while i < n {
            let c = u[i]
            if c >= 48 && c <= 57 {
                seenDigit = true
                if seenPoint && c == 48 {
                    pendingZeros += 1
                    i += 1
                    continue
                }
                for _ in 0..<(seenPoint ? pendingZeros + 1 : 1) {
                    let (m, o) = digits.multipliedReportingOverflow(by: 10)
                    if o { overflow = true } else { digits = m }
                }
                if seenPoint { fractionDigits += pendingZeros + 1 }
                pendingZeros = 0
                let (a, o2) = digits.addingReportingOverflow(Int64(c - 48))
                if o2 { overflow = true } else { digits = a }
            } else if c == 46 && !seenPoint {
                seenPoint = true
            } else { break }
            i += 1
        }
        guard seenDigit else { return .failure(.notANumber) }
        var exponent = 0
        if i < n, u[i] == 101 || u[i] == 69 {
            i += 1
            var eneg = false
            if i < n, u[i] == 45 { eneg = true; i += 1 } else if i < n, u[i] == 43 { i += 1 }
            let start = i
            while i < n, u[i] >= 48, u[i] <= 57, i - start < 4 { exponent = exponent * 10 + Int(u[i] - 48); i += 1 }
            guard i > start else { return .failure(.notANumber) }
            if eneg { exponent = -exponent }
        }
        guard i == n else { return .failure(.notANumber) }
        if overflow { return .failure(.outOfRange) }
        // value = digits * 10^(exponent - fractionDigits); we want value * 10^scale.
        var shift = exponent - fractionDigits + scale
        var v = digits
        while shift < 0 {
            if v % 10 != 0 { return .failure(.tooManyDecimals(scale: scale)) }
            v /= 10
            shift += 1
        }
        while shift > 0 {
            if v == 0 { break }
            let (m, o) = v.multipliedReportingOverflow(by: 10)
            if o { return .failure(.outOfRange) }
            v = m
            shift -= 1
        }
        if negative && v != 0 {
            guard allowNegative else { return .failure(.negative) }
            v = -v
        }
        return .success(v)
    }

    /// The common case, 1 to 18 plain digits whose value in units fits: nil for anything else,
    /// which the full parser then reads (with the same result for these).
    private static func plainInteger(_ u: UnsafeBufferPointer<UInt8>, scale: Int) -> Int64? {
        guard scale >= 0 else { return nil }
        var v: Int64 = 0
        for c in u {
            let d = c &- 48
            guard d <= 9 else { return nil }
            v = v &* 10 &+ Int64(d)
        }
        for _ in 0..<scale where v != 0 {
            let (m, o) = v.multipliedReportingOverflow(by: 10)
            if o { return nil }
            v = m
        }
        return v
    }

    /// Renders `value * 10^-scale`, divided by `divisor`, with exactly `decimals` decimals,
    /// rounding half away from zero. Exact for every Int64 input.
    public static func render(_ value: Int64, scale: Int, divisor: Int64 = 1, decimals: Int) -> String {
        // result = value / (10^scale * divisor), scaled by 10^decimals.
        let num = Int128(value) * Int128(pow10(min(decimals, 18))) * (decimals > 18 ? Int128(pow10(decimals - 18)) : 1)
        let den = Int128(pow10(scale)) * Int128(divisor)
        let negative = num < 0
        let a = negative ? -num : num
        var q = a / den
        let r = a % den
        if r * 2 >= den { q += 1 }
        var digits = String(q)
        if decimals > 0 {
            if digits.count <= decimals { digits = String(repeating: "0", count: decimals - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -decimals))
        }
        return (negative && q != 0 ? "-" : "") + digits
    }

    /// Renders the value with its natural scale, without trailing zeros (`0.0008`, `12`).
    public static func renderNatural(_ value: Int64, scale: Int) -> String {
        var s = render(value, scale: scale, decimals: scale)
        if scale > 0 {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}
